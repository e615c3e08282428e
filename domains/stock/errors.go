package stock

import (
	"errors"
	"fmt"
)

// ErrInvalid: the arguments break a precondition (an empty or oversized key,
// a non-positive quantity, an unknown kind or mode, a line number used
// twice). Match it with errors.Is.
var ErrInvalid = errors.New("stock: invalid argument")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// OutOfStockError is the refusal of a reservation (Reserve) that finds less
// than Requested of SKU at Location for the order's Channel (empty for none):
// Available is what the channel could have reserved when the refusal was
// decided, under its caps and the SKU's channel settings. Operator changes
// that take sellable stock away (SetSellable, SetChannel, RemoveChannel,
// SplitBuckets, MergeBuckets) refuse with it too when reservations took the
// stock first: read the level again and retry. The transaction must be
// rolled back.
type OutOfStockError struct {
	SKU       string
	Location  string
	Channel   string
	Requested int64
	Available int64
}

func (e *OutOfStockError) Error() string {
	ch := ""
	if e.Channel != "" {
		ch = " for channel " + e.Channel
	}
	return fmt.Sprintf("out of stock: %s at %s%s: %d requested, %d available", e.SKU, e.Location, ch,
		e.Requested, e.Available)
}

// StateError is the refusal of Move when a part of the order's reservation
// is not in the state the kind moves it from: already moved by the other
// kind of the pair (confirm after release, ship after unfreeze), not
// confirmed (ship or unfreeze before confirm), or a slot whose source
// bucket holds less than the part (which only a corrupted slot can cause).
// The transaction must be rolled back.
type StateError struct {
	OrderID  string
	LineNo   int
	Part     int
	SKU      string
	Location string
	Slot     string
	Kind     string
	Quantity int64
	// Reason says what is wrong: "released", "confirmed", "shipped",
	// "unfrozen", "not confirmed" or "<bucket> holds less".
	Reason string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("cannot %s order %s line %d (%d of %s at %s, slot %q): %s", e.Kind, e.OrderID,
		e.LineNo, e.Quantity, e.SKU, e.Location, e.Slot, e.Reason)
}

// ReturnError is the refusal of Return when a line asks for more than was
// shipped and not yet returned (Returnable), or names a line that was never
// shipped or another SKU. The transaction must be rolled back.
type ReturnError struct {
	OrderID    string
	ReturnID   string
	LineNo     int
	SKU        string
	Requested  int64
	Returnable int64
}

func (e *ReturnError) Error() string {
	return fmt.Sprintf("return %s of order %s line %d (%s): %d requested, %d returnable", e.ReturnID,
		e.OrderID, e.LineNo, e.SKU, e.Requested, e.Returnable)
}

// ConflictError is the refusal of a setting that contradicts the SKU's other
// settings at the location: an exclusive channel next to any other channel
// setting, buckets on an exclusive SKU, or a second exclusive channel.
type ConflictError struct {
	SKU      string
	Location string
	Channel  string
	Mode     string
	// Reason names the setting in the way.
	Reason string
}

func (e *ConflictError) Error() string {
	what := e.Mode
	if e.Channel != "" {
		what += " channel " + e.Channel
	}
	return fmt.Sprintf("%s for %s at %s conflicts: %s", what, e.SKU, e.Location, e.Reason)
}
