package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/twostep/twostep/internal/web"
)

// loadBrand gathers the product's look for the pages: the name and colour
// from the settings, and the logo from TWOSTEP_LOGO_URL or else the first of
// web.LogoTypes' files in the data directory. A logo file that is too large
// or not what its name says stops start-up, naming the file.
func loadBrand(cfg *Config) (web.Brand, error) {
	b := web.Brand{Name: cfg.ProductName, LogoURL: cfg.LogoURL, Accent: cfg.AccentColor}
	if b.LogoURL != "" {
		return b, nil
	}
	for _, lt := range web.LogoTypes {
		path := filepath.Join(cfg.DataDir, lt.File)
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return b, fmt.Errorf("logo %s: %w", path, err)
		}
		if st.Size() > web.MaxLogoSize {
			return b, fmt.Errorf("logo %s: is larger than %d KiB", path, web.MaxLogoSize>>10)
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return b, fmt.Errorf("logo %s: %w", path, err)
		}
		if why := web.CheckLogo(content, lt.Type); why != "" {
			return b, fmt.Errorf("logo %s: %s", path, why)
		}
		b.Logo, b.LogoType = content, lt.Type
		break
	}
	return b, nil
}
