package b2bdistribution

import (
	"context"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// ReviewerKey is the key of the event data that names the reviewer.
const ReviewerKey = "reviewer"

// Review is b2b-distribution.review, at order.guard. On the review events,
// approve and reject, the event data must name the reviewer
// (Data["reviewer"], not blank), else the transition is vetoed with
// "reviewer_required"; and the reviewer must not be the order's buyer, else
// "self_review" (four eyes: an agent cannot wave its own order through).
// Every other event does not concern the review: Review skips it
// (extensions.ErrSkip, which order.guard counts as allow and the trace
// shows as "skip"). It never fails and has no side effects.
func Review(_ context.Context, req extensions.GuardRequest) (extensions.Verdict, error) {
	if req.Event != lifecycle.EventApprove && req.Event != lifecycle.EventReject {
		return extensions.Verdict{}, extensions.ErrSkip
	}
	reviewer := strings.TrimSpace(req.Data[ReviewerKey])
	switch {
	case reviewer == "":
		return extensions.Deny("reviewer_required", req.Event+" needs the reviewer in the event data (\"reviewer\")"), nil
	case reviewer == req.BuyerID:
		return extensions.Deny("self_review", "the buyer "+req.BuyerID+" cannot review its own order"), nil
	}
	return extensions.Allow(), nil
}

var _ kernel.Func[extensions.GuardRequest, extensions.Verdict] = Review
