package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type bench struct {
	o      options
	out    io.Writer
	client *http.Client
	run    string // unique per run, so SKUs and buyers never collide
	skus   []string
	hot    string
	tokens []string
}

func newBench(o options, out io.Writer) *bench {
	tr := &http.Transport{MaxIdleConns: o.Buyers * 2, MaxIdleConnsPerHost: o.Buyers * 2, IdleConnTimeout: time.Minute}
	return &bench{o: o, out: out, client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		run: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)}
}

// call sends a JSON request and decodes a JSON answer into v (when not nil).
// It returns the status and, for a problem, its code.
func (b *bench) call(ctx context.Context, method, path, token string, body any, v any, headers ...string) (int, string, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.o.URL+path, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode >= 400 {
		var p struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &p)
		if p.Code == "" {
			p.Code = fmt.Sprintf("http_%d", resp.StatusCode)
		}
		return resp.StatusCode, p.Code, nil
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return resp.StatusCode, "", fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, "", nil
}

func (b *bench) admin(ctx context.Context, method, path string, body, v any) error {
	status, code, err := b.call(ctx, method, path, b.o.AdminToken, body, v)
	if err != nil {
		return err
	}
	if status >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, status, code)
	}
	return nil
}

// seed creates the run's SKUs (one hot, the rest spread), their stock and
// one buyer per concurrent client.
func (b *bench) seed(ctx context.Context) error {
	b.hot = "bench-" + b.run + "-hot"
	b.skus = []string{b.hot}
	for i := range b.o.SKUs {
		b.skus = append(b.skus, fmt.Sprintf("bench-%s-%03d", b.run, i))
	}
	for _, s := range b.skus {
		if err := b.admin(ctx, http.MethodPut, "/v1/skus/"+s, map[string]any{"title": "Bench " + s, "price": 1999,
			"currency": "CNY", "category": "bench", "weightGrams": 300}, nil); err != nil {
			return err
		}
		if err := b.admin(ctx, http.MethodPut, "/v1/stock/"+s, map[string]any{"location": "default",
			"sellable": b.putIn(s), "reason": "bench " + b.run}, nil); err != nil {
			return err
		}
	}
	for i := range b.o.Buyers {
		var created struct {
			Token string `json:"token"`
		}
		if err := b.admin(ctx, http.MethodPost, "/v1/admin/principals", map[string]any{"id": fmt.Sprintf("bench-%s-buyer-%d", b.run, i),
			"roles": []string{"buyer"}}, &created); err != nil {
			return err
		}
		b.tokens = append(b.tokens, created.Token)
	}
	return nil
}

func (b *bench) putIn(sku string) int64 {
	if sku == b.hot {
		return b.o.HotStock
	}
	return b.o.Stock
}

type result struct {
	elapsed   time.Duration
	placed    int64
	paid      int64
	latencies []time.Duration
	errors    map[string]int64
	sold      map[string]int64 // units per SKU in placed orders
}

// drive runs the buyers for the configured duration. Requests in flight at
// the end are waited for, not cancelled: a cancelled request may still have
// placed its order, and the invariant check must know of every order.
func (b *bench) drive(ctx context.Context) result {
	stop, cancel := context.WithTimeout(ctx, b.o.Duration)
	defer cancel()
	var placed, paid atomic.Int64
	var mu sync.Mutex
	res := result{errors: map[string]int64{}, sold: map[string]int64{}}
	start := time.Now()
	done := make(chan struct{})
	var progress sync.WaitGroup
	progress.Go(func() { // progress line; drive returns only after its last write
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				mu.Lock()
				nerr := int64(0)
				for _, n := range res.errors {
					nerr += n
				}
				mu.Unlock()
				fmt.Fprintf(b.out, "t=%3.0fs placed=%d (%.0f/s) paid=%d errors=%d\n", el, placed.Load(), float64(placed.Load())/el, paid.Load(), nerr)
			}
		}
	})
	var wg sync.WaitGroup
	for w := range b.o.Buyers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			token := b.tokens[w]
			var lat []time.Duration
			for n := 0; stop.Err() == nil; n++ {
				sku := b.skus[1+rng.IntN(len(b.skus)-1)]
				if rng.Float64() < b.o.Hot {
					sku = b.hot
				}
				body := map[string]any{"items": []map[string]any{{"sku": sku, "quantity": 1}},
					"shippingAddress": map[string]any{"region": "east", "line1": "1 Bench Road"}}
				if b.o.BizCode != "" {
					body["bizCode"] = b.o.BizCode
				}
				var order struct {
					ID string `json:"id"`
				}
				t0 := time.Now()
				status, code, err := b.call(ctx, http.MethodPost, "/v1/orders", token, body, &order,
					"Idempotency-Key", fmt.Sprintf("%s-%d-%d", b.run, w, n))
				lat = append(lat, time.Since(t0))
				if err != nil || status != http.StatusCreated {
					if err != nil {
						code = "transport"
					}
					mu.Lock()
					res.errors[code]++
					mu.Unlock()
					continue
				}
				placed.Add(1)
				mu.Lock()
				res.sold[sku]++
				mu.Unlock()
				if rng.Float64() < b.o.Pay {
					status, code, err := b.call(ctx, http.MethodPost, "/v1/orders/"+order.ID+"/payments", token,
						map[string]any{"card": map[string]any{"number": "4242424242424242"}}, nil,
						"Idempotency-Key", fmt.Sprintf("%s-%d-%d-pay", b.run, w, n))
					switch {
					case err != nil:
						mu.Lock()
						res.errors["transport"]++
						mu.Unlock()
					case err == nil && status != http.StatusOK:
						mu.Lock()
						res.errors["pay:"+code]++
						mu.Unlock()
					case err == nil:
						paid.Add(1)
					}
				}
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(done)
	progress.Wait()
	res.elapsed = time.Since(start)
	res.placed, res.paid = placed.Load(), paid.Load()
	return res
}

func (r result) print(out io.Writer) {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	fmt.Fprintf(out, "\nplaced %d orders in %s: %.0f orders/s; paid %d\n", r.placed, r.elapsed.Round(time.Millisecond),
		float64(r.placed)/r.elapsed.Seconds(), r.paid)
	fmt.Fprintf(out, "place latency: p50 %s  p95 %s  p99 %s  (%d requests)\n", pct(0.50).Round(time.Microsecond),
		pct(0.95).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), len(r.latencies))
	codes := make([]string, 0, len(r.errors))
	for c := range r.errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	if len(codes) == 0 {
		fmt.Fprintln(out, "errors: none")
	}
	for _, c := range codes {
		fmt.Fprintf(out, "errors %-28s %d\n", c, r.errors[c])
	}
}

// checkInvariant reads every SKU's stock through the API.
func (b *bench) checkInvariant(ctx context.Context, r result) error {
	var broken []string
	for _, s := range b.skus {
		var st struct {
			Sellable, Reserved, Frozen, Shipped int64
		}
		if err := b.admin(ctx, http.MethodGet, "/v1/stock/"+s, nil, &st); err != nil {
			return err
		}
		total := st.Sellable + st.Reserved + st.Frozen + st.Shipped
		switch {
		case st.Sellable < 0 || st.Reserved < 0 || st.Frozen < 0 || st.Shipped < 0:
			broken = append(broken, fmt.Sprintf("%s has a negative quantity: %+v", s, st))
		case total != b.putIn(s):
			broken = append(broken, fmt.Sprintf("%s: put in %d but sellable+reserved+frozen+shipped = %d", s, b.putIn(s), total))
		case r.sold[s] > b.putIn(s):
			broken = append(broken, fmt.Sprintf("%s oversold: %d units sold of %d", s, r.sold[s], b.putIn(s)))
		case st.Reserved+st.Frozen+st.Shipped != r.sold[s]:
			broken = append(broken, fmt.Sprintf("%s: %d units held for orders, but %d were sold", s, st.Reserved+st.Frozen+st.Shipped, r.sold[s]))
		}
	}
	if len(broken) > 0 {
		for _, m := range broken {
			fmt.Fprintln(b.out, "INVARIANT BROKEN:", m)
		}
		return fmt.Errorf("stock invariant broken for %d SKUs", len(broken))
	}
	fmt.Fprintf(b.out, "stock invariant holds for %d SKUs (hot SKU: %d sold of %d)\n", len(b.skus), r.sold[b.hot], b.o.HotStock)
	return nil
}
