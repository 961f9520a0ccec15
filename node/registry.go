package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/node/dataset"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// ErrUnknownDataset reports a dataset name that is not registered.
var ErrUnknownDataset = errors.New("unknown dataset")

// Registry is the node's dataset catalog, persisted as JSON in the data dir.
// It holds metadata and policies only; files stay where their owner put them.
type Registry struct {
	path string
	mu   sync.Mutex
	sets map[string]*mitaiv1.DatasetInfo
}

// OpenRegistry loads the registry file in dir, or starts an empty one.
func OpenRegistry(dir string) (*Registry, error) {
	r := &Registry{path: filepath.Join(dir, "datasets.json"), sets: map[string]*mitaiv1.DatasetInfo{}}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: registry: %w", err)
	}
	var list mitaiv1.ListDatasetsResponse
	if err := protojson.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("node: registry %s is corrupt: %w", r.path, err)
	}
	for _, d := range list.Datasets {
		r.sets[d.Name] = d
	}
	return r, nil
}

// Add scans the file and registers (or replaces) the dataset. Empty keys are
// an error; duplicate keys are counted and published, and a task over the
// dataset fails on them unless it asks to deduplicate.
func (r *Registry) Add(req *mitaiv1.AddDatasetRequest, now time.Time) (*mitaiv1.DatasetInfo, error) {
	if err := pki.ValidPartyName(req.Name); err != nil {
		return nil, fmt.Errorf("dataset name: %w", err)
	}
	if !filepath.IsAbs(req.Path) {
		return nil, fmt.Errorf("dataset path %q must be absolute (it is read by the node, not the client)", req.Path)
	}
	if err := ValidatePolicy(req.Policy); err != nil {
		return nil, err
	}
	info, err := dataset.ScanFile(req.Path, dataset.Options{KeyColumn: req.KeyColumn, Dedupe: true})
	if err != nil {
		return nil, err
	}
	d := &mitaiv1.DatasetInfo{
		Name:           req.Name,
		Path:           req.Path,
		KeyColumn:      req.KeyColumn,
		Columns:        info.Header,
		Rows:           uint64(info.Rows),
		Digest:         hex.EncodeToString(info.Digest[:]),
		DuplicateKeys:  uint64(info.DuplicateKeys),
		Policy:         req.Policy,
		RegisteredUnix: now.Unix(),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.sets[req.Name]
	r.sets[req.Name] = d
	if err := r.saveLocked(); err != nil {
		if old != nil {
			r.sets[req.Name] = old
		} else {
			delete(r.sets, req.Name)
		}
		return nil, err
	}
	return proto.Clone(d).(*mitaiv1.DatasetInfo), nil
}

// Get returns a copy of the dataset's metadata.
func (r *Registry) Get(name string) (*mitaiv1.DatasetInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.sets[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownDataset, name)
	}
	return proto.Clone(d).(*mitaiv1.DatasetInfo), nil
}

// List returns every dataset's metadata, by name.
func (r *Registry) List() []*mitaiv1.DatasetInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*mitaiv1.DatasetInfo, 0, len(r.sets))
	for _, d := range r.sets {
		out = append(out, proto.Clone(d).(*mitaiv1.DatasetInfo))
	}
	slices.SortFunc(out, func(a, b *mitaiv1.DatasetInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Remove unregisters a dataset.
func (r *Registry) Remove(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.sets[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownDataset, name)
	}
	delete(r.sets, name)
	if err := r.saveLocked(); err != nil {
		r.sets[name] = d
		return err
	}
	return nil
}

func (r *Registry) saveLocked() error {
	list := &mitaiv1.ListDatasetsResponse{}
	for _, d := range r.sets {
		list.Datasets = append(list.Datasets, d)
	}
	slices.SortFunc(list.Datasets, func(a, b *mitaiv1.DatasetInfo) int { return strings.Compare(a.Name, b.Name) })
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(list)
	if err != nil {
		return err
	}
	return writeFileAtomic(r.path, b, 0o600)
}

// writeFileAtomic writes data to a temporary file in path's folder, syncs it
// and renames it over path, so readers see the old or the new file, whole.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeAtomic(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// writeAtomic is writeFileAtomic with a function that writes the content.
func writeAtomic(path string, mode os.FileMode, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if err := write(f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("node: write %s: %w", path, err)
	}
	return nil
}
