package authz

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// orgTree is an organisation tree stored, like the database stores it, as
// materialised paths; parent links give the reference answer.
type orgTree struct {
	parent []int // parent[0] == -1: the root
	path   []string
}

// newOrgTree grows a random tree of n nodes: each node hangs under a random
// earlier node, which gives depth and wide fan-out both.
func newOrgTree(rng *rand.Rand, n int) *orgTree {
	t := &orgTree{parent: make([]int, n), path: make([]string, n)}
	t.parent[0], t.path[0] = -1, "/hq/"
	for i := 1; i < n; i++ {
		// Prefer recent nodes half of the time, so that chains get deep.
		p := rng.IntN(i)
		if rng.IntN(2) == 0 {
			p = max(0, i-1-rng.IntN(min(i, 20)))
		}
		t.parent[i] = p
		// Node names share prefixes ("n1", "n12", "n123") on purpose: a string
		// prefix without the trailing "/" would confuse them.
		t.path[i] = fmt.Sprintf("%sn%d/", t.path[p], i)
	}
	return t
}

// within reports whether node is ancestor itself or below it, by walking
// parent links rather than comparing strings.
func (t *orgTree) within(node, ancestor int) bool {
	for ; node >= 0; node = t.parent[node] {
		if node == ancestor {
			return true
		}
	}
	return false
}

type sample struct {
	p     Principal
	node  int // the principal's org node; -1 for none
	r     Resource
	rnode int
}

var (
	bizCodes = []string{"retail", "b2b", "virtual.topup", "virtual.topup.mobile"}
	buyerIDs = []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
)

// randomSample draws a principal and an order from the tree.
func randomSample(rng *rand.Rand, t *orgTree) sample {
	s := sample{node: -1, rnode: rng.IntN(len(t.path))}
	// An agent's node: half of the time an ancestor of the order's node
	// (subtrees are small, a random node would rarely hold the order).
	agentNode := rng.IntN(len(t.path))
	if rng.IntN(2) == 0 {
		agentNode = s.rnode
		for steps := rng.IntN(6); steps > 0 && t.parent[agentNode] >= 0; steps-- {
			agentNode = t.parent[agentNode]
		}
	}
	s.p.ID = buyerIDs[rng.IntN(len(buyerIDs))]
	switch rng.IntN(6) {
	case 0:
		s.p.Roles = []string{"buyer"}
	case 1, 2:
		s.p.Roles = []string{"agent"}
		s.node = agentNode
		s.p.OrgPath = t.path[s.node]
	case 3:
		s.p.Roles = []string{"operator"}
		for _, c := range bizCodes {
			if rng.IntN(3) == 0 {
				s.p.Identities = append(s.p.Identities, c)
			}
		}
		if rng.IntN(10) == 0 {
			s.p.Identities = append(s.p.Identities, "*")
		}
	case 4:
		s.p.Roles = []string{"admin"}
	default:
		s.p.Roles = []string{"agent", "operator"}
		s.node = agentNode
		s.p.OrgPath = t.path[s.node]
		s.p.Identities = []string{bizCodes[rng.IntN(len(bizCodes))]}
	}
	s.r = Resource{
		Type:      "order",
		ID:        fmt.Sprintf("o-%d", rng.IntN(1_000_000)),
		BuyerID:   buyerIDs[rng.IntN(len(buyerIDs))],
		OwnerPath: t.path[s.rnode],
		BizCode:   bizCodes[rng.IntN(len(bizCodes))],
	}
	if rng.IntN(20) == 0 {
		s.r.BuyerID = ""
	}
	return s
}

// wantVisible is the visibility rule computed from the tree in Go.
func wantVisible(t *orgTree, s sample) bool {
	has := func(xs []string, x string) bool {
		for _, y := range xs {
			if y == x {
				return true
			}
		}
		return false
	}
	switch {
	case has(s.p.Roles, "admin"):
		return true
	case has(s.p.Roles, "operator") && (has(s.p.Identities, "*") || has(s.p.Identities, s.r.BizCode)):
		return true
	case s.r.BuyerID == s.p.ID:
		return true
	case s.r.BuyerID == "": // every sampled principal holds a known role
		return true
	case has(s.p.Roles, "agent") && s.node >= 0 && t.within(s.rnode, s.node):
		return true
	}
	return false
}

// Over a tree of 10,000 nodes, Decide agrees with the tree, and the list
// filter, applied to the resource, agrees with Decide.
func TestVisibleMatchesOrgTree(t *testing.T) {
	t.Parallel()
	const nodes, pairs, workers = 10_000, 3_000, 2
	rng := rand.New(rand.NewPCG(1, 2))
	tree := newOrgTree(rng, nodes)
	samples := make([]sample, pairs)
	for i := range samples {
		samples[i] = randomSample(rng, tree)
	}
	e := newEngine(t, Options{})

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < pairs; i += workers {
				if err := checkSample(e, tree, samples[i]); err != nil {
					t.Errorf("pair %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()

	// The samples must exercise both answers and real subtrees, or the
	// agreement above proves little.
	var visible, agentSubtree int
	for _, s := range samples {
		if wantVisible(tree, s) {
			visible++
		}
		if s.node > 0 && tree.within(s.rnode, s.node) && s.r.BuyerID != s.p.ID {
			agentSubtree++
		}
	}
	if visible < pairs/10 || visible > pairs*9/10 {
		t.Errorf("%d of %d pairs visible: the sample is lopsided", visible, pairs)
	}
	if agentSubtree < pairs/20 {
		t.Errorf("only %d pairs hit a proper agent subtree", agentSubtree)
	}
}

func checkSample(e *Engine, tree *orgTree, s sample) error {
	ctx := context.Background()
	d, err := e.Decide(ctx, Input{Principal: s.p, Action: "order.read", Resource: &s.r})
	if err != nil {
		return err
	}
	want := wantVisible(tree, s)
	if d.Visible != want {
		return fmt.Errorf("%+v on %+v: Visible = %v, tree says %v", s.p, s.r, d.Visible, want)
	}
	if d.Allow != want { // order.read is exactly visibility
		return fmt.Errorf("%+v on %+v: Allow = %v, want %v", s.p, s.r, d.Allow, want)
	}
	f, err := e.Filter(ctx, s.p, "order.list")
	if err != nil {
		return err
	}
	if got := matches(f, s.r); got != d.Visible {
		return fmt.Errorf("%+v on %+v: filter %+v matches = %v, Decide.Visible = %v", s.p, s.r, f, got, d.Visible)
	}
	return nil
}
