package node

import (
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
	f.Fuzz(func(t *testing.T, data []byte) {
		var frame mitaiv1.PeerFrame
		if proto.Unmarshal(data, &frame) != nil || frame.GetOffer() == nil {
			return
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
