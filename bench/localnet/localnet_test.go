package localnet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/bench/datagen"
	"github.com/mitai-dev/mitai/node"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// TestPeerKilledMidTask kills the sender's node process in the middle of a
// task: the receiver's node must end the task promptly with an error and
// write no result.
func TestPeerKilledMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mitai")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/mitai").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	files, err := datagen.PSIPair{Rows: 200000, Overlap: 0.5, Seed: 1, KeysOnly: true}.Write(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net, err := Start(ctx, Options{Dir: dir, Binary: bin, LogLevel: "warn", Parties: []Party{
		{Name: "bank", Datasets: []node.DatasetConfig{{Name: "customers", Path: files.Left, Key: "id",
			Policy: node.PolicyConfig{Partners: []string{"telco"}, Modes: []string{"intersection"}}}}},
		{Name: "telco", Datasets: []node.DatasetConfig{{Name: "subscribers", Path: files.Right, Key: "id",
			Policy: node.PolicyConfig{Partners: []string{"bank"}, Modes: []string{"intersection"}}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Stop()
	bank, telco := net.Nodes["bank"], net.Nodes["telco"]
	spec := node.NewPSITask(&mitaiv1.Participant{Party: "bank", Dataset: "customers"},
		&mitaiv1.Participant{Party: "telco", Dataset: "subscribers", Address: telco.Addr},
		[]string{"bank"}, &mitaiv1.PsiParams{Mode: psi.Intersection.Proto()})

	errc := make(chan error, 1)
	go func() {
		_, err := bank.Admin().RunTask(ctx, &mitaiv1.RunTaskRequest{Task: spec})
		errc <- err
	}()
	time.Sleep(1500 * time.Millisecond) // the task runs for several seconds
	if err := telco.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the task succeeded although the peer was killed")
		}
		if !strings.Contains(err.Error(), "psi:") {
			t.Fatalf("unclear error: %v", err)
		}
		t.Logf("receiver's error %v after the kill: %v", time.Since(killed).Round(time.Millisecond), err)
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver did not end the task within 30 s of the peer's death")
	}
	entries, _ := os.ReadDir(filepath.Join(bank.DataDir, "results"))
	if len(entries) != 0 {
		t.Fatalf("results left after a failed task: %v", entries)
	}
}
