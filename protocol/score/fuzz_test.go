package score

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/protocol"
)

// FuzzParseModel: model files come from operators; anything must parse to
// a valid model or an error, never panic.
func FuzzParseModel(f *testing.F) {
	f.Add([]byte(`{"format":"mitai.score.model/v1","party":"bank","intercept":-1.5,"features":[{"column":"a","weight":0.5,"center":1,"scale":2,"min":0,"max":10,"missing":1}]}`))
	f.Add([]byte(`{"format":"mitai.score.model/v1","party":"b","features":[{"column":"a","weight":1e308},{"column":"a","weight":1}]}`))
	f.Add([]byte(`{"format":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseModel(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed model fails validation: %v", err)
		}
		blk := &Block{Columns: m.Columns(), Data: make([][]float64, len(m.Features))}
		for j := range blk.Data {
			blk.Data[j] = []float64{0, 1, -1}
		}
		_, _ = m.Partial(blk, true, true)
	})
}

func splitMessages(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 3 && len(out) < 12 {
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		b = b[3:]
		n = min(n, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func joinMessages(msgs ...[]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = append(out, byte(len(m)>>16), byte(len(m)>>8), byte(len(m)))
		out = append(out, m...)
	}
	return out
}

// FuzzReceiverMessages plays a contributor that sends a valid hello and
// then arbitrary messages: the receiver must end with an error, never panic
// or hang, and never release scores.
func FuzzReceiverMessages(f *testing.F) {
	names := []string{"bank", "telco"}
	parties := synth(names, "bank", 50, 2, 12)
	ks := keys(f, "affine-ci12", names, 0)
	bank := parties[0]
	h, _ := json.Marshal(hello{Version: version, Job: "fz", Party: "telco", Receiver: "bank", Parties: names,
		KeySet: ks["bank"].KeySet.ID(), Rows: 50, Order: hex.EncodeToString(bank.block.OrderDigest[:]),
		Scorecard: [3]float64{20, 600, 50}, Bands: []float64{}, Release: &releaseMsg{Mode: "exact"}})
	helloMsg := append([]byte{kindHello}, h...)
	f.Add(joinMessages([]byte{kindCommit}))
	f.Add(joinMessages(append([]byte{kindCommit}, make([]byte, 96)...), append([]byte{kindC1, 0, 0, 0, 0}, make([]byte, 64)...)))
	f.Add(joinMessages(append([]byte{kindCommit}, make([]byte, 96)...), []byte{kindC1, 0, 0, 0, 1}))
	f.Add(joinMessages([]byte{0xff, 'x'}))
	f.Add(joinMessages([]byte{kindDone}))
	f.Fuzz(func(t *testing.T, in []byte) {
		mine, theirs := protocol.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		go func() {
			_ = theirs.Send(ctx, helloMsg)
			go func() {
				for {
					if _, err := theirs.Recv(ctx); err != nil {
						return
					}
				}
			}()
			for _, m := range splitMessages(in) {
				if theirs.Send(ctx, m) != nil {
					return
				}
			}
		}()
		o := Options{JobID: "fz", Receiver: "bank", Parties: names, KeySet: ks["bank"].KeySet, Secret: ks["bank"].Secret,
			Model: bank.model, IdleTimeout: 100 * time.Millisecond, Workers: 1}
		sc, _, err := RunReceiver(ctx, "bank", map[string]protocol.Conn{"telco": mine}, bank.block, o)
		mine.Close()
		if ctx.Err() != nil {
			t.Fatal("the receiver hung")
		}
		if err == nil || sc != nil {
			t.Fatalf("the receiver released scores to a fuzzed peer (err %v)", err)
		}
	})
}
