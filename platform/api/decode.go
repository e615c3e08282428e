package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"
)

// timeType is decoded from an RFC 3339 string, not walked as a struct.
var timeType = reflect.TypeFor[time.Time]()

// rawJSONType is json.RawMessage, taken as it is.
var rawJSONType = reflect.TypeFor[json.RawMessage]()

// clientPriceFields are the names of money and state that only the server
// sets. In an order request, an unknown field of one of these names, at any
// level, is refused as client_price_rejected rather than unknown_field, so
// that a client that tries to send prices learns why.
var clientPriceFields = map[string]bool{
	"price": true, "unitprice": true, "listprice": true, "linetotal": true, "total": true, "amount": true,
	"amounts": true, "status": true, "subtotal": true, "discount": true, "freight": true,
}

// decodeOptions tune strict decoding for one kind of body.
type decodeOptions struct {
	// rejectPrices answers client_price_rejected for unknown fields named in
	// clientPriceFields.
	rejectPrices bool
	// rangeCode answers integers beyond int64; invalid_type when empty.
	rangeCode string
}

// readBody reads a request body of at most limit bytes. A content type
// other than JSON is 415, a longer body 413.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return nil, problem(CodeUnsupportedMediaType, map[string]any{"contentType": ct},
				"the body must be application/json, not %q", ct)
		}
	}
	tooLarge := problem(CodeBodyTooLarge, map[string]any{"limit": limit}, "the request body is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	// The underlying writer, so that the server closes the connection after a body too large.
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response().Writer, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge
	}
	if err != nil {
		return nil, &Problem{Code: CodeInvalidRequest, Detail: "the request body could not be read", Err: err}
	}
	return raw, nil
}

// decodeStrict decodes raw into v, a pointer to a struct, refusing
// malformed JSON, trailing data, unknown fields (json tag names, matched
// exactly), values of the wrong type, and null where the field cannot be
// absent. Every refusal is a *Problem naming the field by its path
// ("items[2].quantity").
func decodeStrict(raw []byte, v any, opt decodeOptions) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return problem(CodeMalformedJSON, nil, "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return problem(CodeMalformedJSON, map[string]any{"offset": se.Offset}, "malformed JSON at byte %d: %s", se.Offset, se.Error())
		}
		return problem(CodeMalformedJSON, nil, "malformed JSON: %s", err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return problem(CodeTrailingData, map[string]any{"offset": dec.InputOffset()},
			"the body holds more than one JSON value (trailing data at byte %d)", dec.InputOffset())
	}
	w := walker{opt: opt}
	w.walk(tree, reflect.TypeOf(v).Elem(), "")
	if w.price != nil {
		return w.price
	}
	if w.first != nil {
		return w.first
	}
	if err := json.Unmarshal(raw, v); err != nil {
		// The walk accepted what encoding/json refuses: a gap in the walk.
		return &Problem{Code: CodeInvalidType, Detail: "the body does not match the expected shape", Err: err}
	}
	return nil
}

// walker checks a decoded JSON tree against a Go type. It keeps the first
// client-price refusal apart: it wins over any other problem.
type walker struct {
	opt   decodeOptions
	price *Problem
	first *Problem
}

func (w *walker) fail(p *Problem) {
	if w.first == nil {
		w.first = p
	}
}

func fieldName(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

func (w *walker) typeError(path, want string, got any) {
	w.fail(problem(CodeInvalidType, map[string]any{"field": fieldName(path), "expected": want},
		"%s must be %s, not %s", fieldName(path), want, jsonKind(got)))
}

func (w *walker) walk(val any, t reflect.Type, path string) {
	if t.Kind() == reflect.Pointer {
		if val == nil {
			return
		}
		t = t.Elem()
	}
	if val == nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Map, reflect.Interface:
			return
		}
		w.typeError(path, expected(t), nil)
		return
	}
	if t == rawJSONType {
		return // raw JSON (an order's attributes) is checked by whoever reads it
	}
	if t == timeType {
		str, ok := val.(string)
		if !ok {
			w.typeError(path, "an RFC 3339 date-time string", val)
			return
		}
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
			w.fail(problem(CodeInvalidType, map[string]any{"field": fieldName(path), "expected": "an RFC 3339 date-time"},
				"%s must be an RFC 3339 date-time such as 2026-01-31T16:00:00Z, not %q", fieldName(path), str))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := val.(map[string]any)
		if !ok {
			w.typeError(path, "an object", val)
			return
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			sub := join(path, k)
			ft, ok := fields[k]
			if !ok {
				w.unknown(sub, k)
				continue
			}
			w.walk(obj[k], ft, sub)
		}
	case reflect.Map:
		obj, ok := val.(map[string]any)
		if !ok {
			w.typeError(path, "an object", val)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			w.text(k, join(path, k))
			w.walk(obj[k], t.Elem(), join(path, k))
		}
	case reflect.Slice:
		arr, ok := val.([]any)
		if !ok {
			w.typeError(path, "an array", val)
			return
		}
		for i, e := range arr {
			w.walk(e, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.String:
		str, ok := val.(string)
		if !ok {
			w.typeError(path, "a string", val)
			return
		}
		w.text(str, path)
	case reflect.Bool:
		if _, ok := val.(bool); !ok {
			w.typeError(path, "a boolean", val)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := val.(json.Number)
		if !ok {
			w.typeError(path, "an integer", val)
			return
		}
		w.integer(n, t.Bits(), path)
	case reflect.Float32, reflect.Float64:
		if _, ok := val.(json.Number); !ok {
			w.typeError(path, "a number", val)
		}
	case reflect.Interface:
	default:
		w.fail(&Problem{Code: CodeInternal, Detail: "the server cannot decode this body", Err: errors.New("api: decode: unsupported kind " + t.Kind().String())})
	}
}

// Limits of free text in request bodies: every string a body carries is
// stored or shown somewhere, so none may be longer than maxText bytes
// (maxDocText for documentation) or carry control characters (which
// forge log lines and break what shows them); a line break or a tab is
// allowed in documentation only.
const (
	maxText    = 1000
	maxDocText = 4000
)

// docFields are the names of fields that hold documentation.
var docFields = map[string]bool{"doc": true, "description": true}

func (w *walker) text(s, path string) {
	name := path[strings.LastIndex(path, ".")+1:]
	limit, doc := maxText, docFields[name]
	if doc {
		limit = maxDocText
	}
	if len(s) > limit {
		w.fail(problem(CodeInvalidText, map[string]any{"field": fieldName(path), "limit": limit},
			"%s is %d bytes long; at most %d", fieldName(path), len(s), limit))
		return
	}
	for _, r := range s {
		if (r == '\n' || r == '\t') && doc {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			w.fail(problem(CodeInvalidText, map[string]any{"field": fieldName(path)},
				"%s holds the control character %U; send printable text", fieldName(path), r))
			return
		}
	}
}

func (w *walker) integer(n json.Number, bits int, path string) {
	_, err := strconv.ParseInt(string(n), 10, bits)
	if err == nil {
		return
	}
	huge := errors.Is(err, strconv.ErrRange)
	if !huge {
		// 1e30 is an integer too large, 1.5 no integer at all.
		f, ferr := strconv.ParseFloat(string(n), 64)
		huge = ferr == nil && f == math.Trunc(f) && math.Abs(f) >= math.Exp2(float64(bits-1))
	}
	if huge {
		code := w.opt.rangeCode
		if code == "" {
			code = CodeInvalidType
		}
		w.fail(problem(code, map[string]any{"field": fieldName(path)}, "%s is %s: out of range", fieldName(path), n))
		return
	}
	w.fail(problem(CodeInvalidType, map[string]any{"field": fieldName(path), "expected": "an integer"},
		"%s must be an integer, not %s", fieldName(path), n))
}

func (w *walker) unknown(path, name string) {
	if w.opt.rejectPrices && clientPriceFields[strings.ToLower(name)] {
		if w.price == nil {
			w.price = problem(CodeClientPrice, map[string]any{"field": path},
				"prices come from the server: remove %s from the request", path)
		}
		return
	}
	w.fail(problem(CodeUnknownField, map[string]any{"field": path}, "unknown field %s", path))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func expected(t reflect.Type) string {
	if t == timeType {
		return "an RFC 3339 date-time string"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + string(v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a value"
}
