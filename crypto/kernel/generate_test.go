//go:build amd64 && !purego

package kernel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// generators lists the avo programs in _asm (as folders relative to it) and
// the files each writes, with the arguments gen.go gives them.
var generators = []struct {
	dir        string
	out, stubs string
}{
	{".", "ifma_amd64.s", "ifma_stub_amd64.go"},
	{"./avx512", "avx512_amd64.s", "avx512_stub_amd64.go"},
}

// TestGeneratedAssembly runs every avo generator in _asm (as go generate does,
// with the same arguments) into a temporary folder and requires the committed
// assembly and stubs byte for byte. It builds the generators, a few seconds
// once cached; -short skips it.
func TestGeneratedAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the avo generators")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	tmp := t.TempDir()
	// The generators write their output names into the header: give the same
	// relative names, from a folder beside a copy of _asm.
	asm := filepath.Join(tmp, "_asm")
	if err := os.CopyFS(asm, os.DirFS("_asm")); err != nil {
		t.Fatal(err)
	}
	for _, g := range generators {
		cmd := exec.Command(goTool, "run", g.dir, "-out", "../"+g.out, "-stubs", "../"+g.stubs, "-pkg", "kernel")
		cmd.Dir = asm
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go run %s in _asm: %v\n%s", g.dir, err, out)
		}
		for _, name := range []string{g.out, g.stubs} {
			got, err := os.ReadFile(filepath.Join(tmp, name))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what %s in _asm generates: run go generate ./crypto/kernel and commit", name, g.dir)
			}
		}
	}
}
