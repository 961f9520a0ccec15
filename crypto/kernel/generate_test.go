//go:build amd64 && !purego

package kernel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedAssembly runs the avo generator in _asm (as go generate does,
// with the same arguments) into a temporary folder and requires the committed
// ifma_amd64.s and ifma_stub_amd64.go byte for byte. It builds the generator,
// a few seconds once cached; -short skips it.
func TestGeneratedAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the avo generator")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	tmp := t.TempDir()
	// The generator writes its output names into the header: give the same
	// relative names, from a folder beside a copy of _asm.
	asm := filepath.Join(tmp, "_asm")
	if err := os.CopyFS(asm, os.DirFS("_asm")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, "run", ".", "-out", "../ifma_amd64.s", "-stubs", "../ifma_stub_amd64.go", "-pkg", "kernel")
	cmd.Dir = asm
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run in _asm: %v\n%s", err, out)
	}
	for _, name := range []string{"ifma_amd64.s", "ifma_stub_amd64.go"} {
		got, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what _asm generates: run go generate ./crypto/kernel and commit", name)
		}
	}
}
