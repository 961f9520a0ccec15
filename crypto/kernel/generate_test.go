//go:build amd64 && !purego

package kernel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// generators lists the avo programs under _asm and the files each writes, as
// gen.go's go:generate lines run them.
var generators = []struct {
	dir        string // program folder, relative to crypto/kernel
	asm, stubs string // outputs, in crypto/kernel
}{
	{"_asm", "ifma_amd64.s", "ifma_stub_amd64.go"},
	{"_asm/avx2", "avx2_amd64.s", "avx2_stub_amd64.go"},
}

// TestGeneratedAssembly runs every avo generator (as go generate does, with
// the same arguments) into a temporary folder and requires the committed
// outputs byte for byte. It builds the generators, a few seconds once cached;
// -short skips it.
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
	// relative names, from a copy of _asm beside the outputs.
	if err := os.CopyFS(filepath.Join(tmp, "_asm"), os.DirFS("_asm")); err != nil {
		t.Fatal(err)
	}
	for _, g := range generators {
		up, err := filepath.Rel(g.dir, ".")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(goTool, "run", ".",
			"-out", filepath.ToSlash(filepath.Join(up, g.asm)),
			"-stubs", filepath.ToSlash(filepath.Join(up, g.stubs)),
			"-pkg", "kernel")
		cmd.Dir = filepath.Join(tmp, g.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go run in %s: %v\n%s", g.dir, err, out)
		}
		for _, name := range []string{g.asm, g.stubs} {
			got, err := os.ReadFile(filepath.Join(tmp, name))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what %s generates: run go generate ./crypto/kernel and commit", name, g.dir)
			}
		}
	}
}
