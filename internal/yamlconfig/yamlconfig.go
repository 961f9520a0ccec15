// Package yamlconfig reads mitai's YAML configuration files the one way
// they are all read: strictly (an unknown field is an error) and with
// relative paths taken relative to the file's own folder.
package yamlconfig

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Load decodes the file at path into out (already holding the defaults) and
// then makes every non-empty relative path among paths relative to the
// file's folder.
func Load(path string, out any, paths ...*string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	base := filepath.Dir(path)
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return nil
}
