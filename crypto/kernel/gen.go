package kernel

// The amd64 assembly (ifma_amd64.s and its Go declarations in
// ifma_stub_amd64.go) is generated with avo by the program in _asm, a module
// of its own. Regenerate it with `go generate ./crypto/kernel`.

//go:generate sh -c "cd _asm && go run . -out ../ifma_amd64.s -stubs ../ifma_stub_amd64.go -pkg kernel"
