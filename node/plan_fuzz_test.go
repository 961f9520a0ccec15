package node

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// FuzzPeerFrame decodes arbitrary bytes as the first frame of a task stream
// (a peer's offer) and plans the task from it: never a panic, and an
// accepted plan is self-consistent.
func FuzzPeerFrame(f *testing.F) {
	for _, s := range []*mitaiv1.TaskSpec{
		spec(psi.Join, "127.0.0.1:1", []string{"bank"}, []string{"segment"}),
		spec(psi.Intersection, "127.0.0.1:1", []string{"bank", "telco"}, nil),
		spec(psi.Cardinality, "", []string{"telco"}, nil),
	} {
		b, err := proto.Marshal(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Offer{Offer: s}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range groupSpecs() {
		b, err := proto.Marshal(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Offer{Offer: s}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var frame mitaiv1.PeerFrame
		if proto.Unmarshal(data, &frame) != nil || frame.GetOffer() == nil {
			return
		}
		if gp, err := planGroup(frame.GetOffer(), "telco"); err == nil {
			if gp.parties[gp.self] != "telco" || gp.local.Party != "telco" || slices.Contains(gp.others(), "telco") || len(gp.others()) != len(gp.parties)-1 {
				t.Fatalf("group plan misplaces telco: %+v", gp)
			}
		}
		pl, err := planTask(frame.GetOffer(), "telco")
		if err != nil {
			return
		}
		if pl.local.Party != "telco" || pl.peer.Party == "telco" {
			t.Fatalf("plan puts telco on both sides: %+v", pl)
		}
		if pl.mode == psi.Join && pl.both {
			t.Fatal("join planned for two receivers")
		}
	})
}

// groupSpecs are valid offers of the multi-party kinds, as telco receives them.
func groupSpecs() []*mitaiv1.TaskSpec {
	parts := []*mitaiv1.Participant{{Party: "bank", Dataset: "features", Address: "127.0.0.1:1"},
		{Party: "bureau", Dataset: "features", Address: "127.0.0.1:2"}, {Party: "telco", Dataset: "features", Address: "127.0.0.1:3"}}
	all := []string{"bank", "bureau", "telco"}
	return []*mitaiv1.TaskSpec{
		{JobId: "job-1", TaskId: "t0", Attempt: 1, Kind: "mpsi", Participants: parts, Receivers: all},
		{JobId: "job-2", TaskId: "t0", Attempt: 1, Kind: "keygen", Participants: parts, Receivers: all,
			Keygen: &mitaiv1.KeygenParams{Threshold: 2}, Seed: make([]byte, 32)},
		{JobId: "job-3", TaskId: "t0", Attempt: 2, Kind: "score", Participants: parts, Receivers: []string{"bank"},
			Score: &mitaiv1.ScoreParams{Alignment: "job-1", KeySet: strings.Repeat("ab", 32), Model: "credit"}},
	}
}

// TestPlanGroup: the valid offers plan, and each broken one is refused.
func TestPlanGroup(t *testing.T) {
	for _, s := range groupSpecs() {
		if _, err := planGroup(s, "telco"); err != nil {
			t.Fatalf("%s: %v", s.Kind, err)
		}
	}
	for name, edit := range map[string]func(*mitaiv1.TaskSpec){
		"not a participant":   func(s *mitaiv1.TaskSpec) { s.Participants = s.Participants[:2] },
		"party twice":         func(s *mitaiv1.TaskSpec) { s.Participants[1].Party = "bank" },
		"score to a partner":  func(s *mitaiv1.TaskSpec) { s.Receivers = []string{"bureau"} },
		"model path":          func(s *mitaiv1.TaskSpec) { s.Score.Model = "../../etc/x" },
		"key set not hex":     func(s *mitaiv1.TaskSpec) { s.Score.KeySet = "zz" },
		"alignment not an id": func(s *mitaiv1.TaskSpec) { s.Score.Alignment = "a/b" },
	} {
		s := proto.Clone(groupSpecs()[2]).(*mitaiv1.TaskSpec)
		edit(s)
		if _, err := planGroup(s, "telco"); err == nil {
			t.Errorf("%s: planned", name)
		}
	}
	kg := groupSpecs()[1]
	kg.Seed = nil
	if _, err := planGroup(kg, "telco"); err == nil {
		t.Error("keygen without a seed: planned")
	}
}
