package protocol

// PipeMesh connects the named parties pairwise with in-memory pipes, as the
// k-party protocols (keygen, score) expect: PipeMesh(names)[a][b] is a's end
// of the connection with b. Closing one end ends that pair's connection;
// closeAll closes every end. For tests and benchmarks.
func PipeMesh(names []string) (mesh map[string]map[string]*PipeEnd, closeAll func()) {
	mesh = map[string]map[string]*PipeEnd{}
	var ends []*PipeEnd
	for _, a := range names {
		mesh[a] = map[string]*PipeEnd{}
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			x, y := Pipe()
			mesh[a][b], mesh[b][a] = x, y
			ends = append(ends, x, y)
		}
	}
	return mesh, func() {
		for _, e := range ends {
			e.Close()
		}
	}
}
