// Package kernel is the extension kernel of the platform: extension points,
// their implementations at three layers, and the execution plans that say,
// for one business identity, which implementations run at every point.
//
// # Points
//
// A point is declared once, as a package-level value of one of four typed
// kinds, one per reducer:
//
//	FirstPoint[Req, Resp]   the highest implementation that does not skip decides
//	AllPassPoint[Req]       every implementation must allow; the first veto wins
//	PipelinePoint[T]        each implementation transforms the output of the one below
//	CollectPoint[Req, Resp] every implementation runs; results are gathered
//
// The kind fixes the shape of an implementation and of the call site at
// compile time; nothing at a call site is an interface{}. A point also has a
// failure policy (Fail, Fallback, Skip) and a deadline, both enforced here and
// never by the implementations. Declared points are collected in a Catalogue,
// which documents them at run time.
//
// # Implementations and layers
//
// Implementations are registered explicitly in a Registry, by unique name. A
// plan draws them from three layers, highest first: the bizpacks bound to the
// identity, the products the identity enables (by priority), and the platform
// default. An identity without a binding of its own for a point takes its
// nearest ancestor's (identity "a.b.c" → "a.b" → "a" → platform default).
//
// # Plans
//
// Kernel.Apply compiles a Config into a PlanSet: one Plan per identity,
// checked whole. Every conflict is reported at once and a configuration with
// any conflict never replaces the plans in force. A PlanSet is immutable and
// swapped atomically; an Operation holds one Plan from Begin to its end, so
// one request sees one plan version even while a new one is applied.
//
// # Calls
//
// Every call of an implementation is timed, classified (ok, skip, veto,
// error, panic, timeout), recorded in the Operation's trace and counted in
// Prometheus metrics labelled by point, implementation, layer and source.
// A panic is recovered. The point's deadline binds bizpacks only: in-process
// implementations (platform defaults and products) run on the caller's
// goroutine with the operation's context, so a call costs no allocation, and
// run to completion however long a busy machine makes them take (their time
// is measured and traced, never judged late). A bizpack's code is held to
// the deadline: implementations registered as isolated (every bizpack served
// in process) and remote ones (bizpacks served over go-plugin) are cut off at
// the deadline, the caller no longer waiting even if the implementation never
// returns; any implementation at the bizpack layer that answers after the
// deadline has its answer discarded, counted as a timeout. A
// failure then follows the point's policy: Fail ends the call with an
// *ExtensionError, Skip leaves the failing implementation out, and Fallback
// leaves its whole layer out so that the next layer down answers.
package kernel
