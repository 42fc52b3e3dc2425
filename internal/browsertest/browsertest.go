// Package browsertest runs pages in a real headless Chromium for tests.
//
// A test package starts one browser in its TestMain (Start) and opens a tab
// per test (Tab), so the browser's start-up cost is paid once per package.
// NPM fetches a file from an npm package into a cache, for libraries a test
// page needs (fhirclient, axe-core) that the project does not commit.
package browsertest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is one running headless Chromium.
type Browser struct {
	alloc  context.Context
	cancel context.CancelFunc
	root   context.Context
}

// ErrNoChromium reports that no Chromium binary was found; tests skip on it.
var ErrNoChromium = errors.New("browsertest: chromium not found (install the Debian package chromium; .ci/run does)")

// Path finds the Chromium binary: $CHROMIUM, then chromium and
// chromium-browser on $PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Start launches Chromium. Close it when the package's tests are done.
func Start() (*Browser, error) {
	path, err := Path()
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// CI runs as root, where Chromium refuses its sandbox.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	root, _ := chromedp.NewContext(alloc)
	// Run an empty action so the browser process starts now and a broken
	// installation fails here rather than in the first test.
	if err := chromedp.Do(root); err != nil {
		cancel()
		return nil, fmt.Errorf("browsertest: start chromium: %w", err)
	}
	return &Browser{alloc: alloc, cancel: cancel, root: root}, nil
}

// Close stops the browser.
func (b *Browser) Close() {
	if b != nil {
		chromedp.Cancel(b.root)
		b.cancel()
	}
}

// Tab opens a new tab with its own cookie jar (an incognito-like browser
// context), closed when the test ends. The context carries a deadline so a
// page that never loads fails the test instead of hanging it.
func (b *Browser) Tab(t testing.TB) context.Context {
	t.Helper()
	if b == nil {
		t.Skip(ErrNoChromium.Error())
	}
	tab, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	// The first action opens the tab; it runs without the deadline, which
	// would otherwise bound the tab's whole life rather than the test's steps.
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatalf("browsertest: open tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
	})
	return ctx
}

// Screenshot saves a full-page PNG of the current page at the given width
// (height is the viewport's before the page is measured).
func Screenshot(ctx context.Context, path string, width, height int64) error {
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		return err
	}
	// Quality 100 makes a PNG.
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}

// NPM returns the local path of file inside the npm package spec
// (name@version), fetching the package with `npm pack` into a cache on first
// use. The cache is $UCP_NPM_CACHE, else ucp-npm in the user cache folder.
func NPM(t testing.TB, spec, file string) string {
	t.Helper()
	p, err := npmFile(spec, file)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Skipf("browsertest: npm not found, cannot fetch %s", spec)
		}
		t.Fatalf("browsertest: %v", err)
	}
	return p
}

func npmFile(spec, file string) (string, error) {
	dir := os.Getenv("UCP_NPM_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "ucp-npm")
	}
	pkgDir := filepath.Join(dir, strings.NewReplacer("/", "_", "@", "_").Replace(spec))
	want := filepath.Join(pkgDir, "package", filepath.FromSlash(file))
	if _, err := os.Stat(want); err == nil {
		return want, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir+"-tmp", "pack")
	if err != nil {
		if err := os.MkdirAll(dir+"-tmp", 0o755); err != nil {
			return "", err
		}
		if tmp, err = os.MkdirTemp(dir+"-tmp", "pack"); err != nil {
			return "", err
		}
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(npm, "pack", "--silent", spec)
	cmd.Dir = tmp
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return "", fmt.Errorf("npm pack %s: %v %s", spec, err, stderr)
	}
	tgz := filepath.Join(tmp, strings.TrimSpace(lastLine(string(out))))
	// Unpack beside the final folder, then rename, so concurrent test
	// packages never see a half-written cache.
	stage, err := os.MkdirTemp(tmp, "stage")
	if err != nil {
		return "", err
	}
	if err := untar(tgz, stage); err != nil {
		return "", fmt.Errorf("unpack %s: %w", spec, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(stage, pkgDir); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(want); statErr != nil {
			return "", err
		}
	}
	if _, err := os.Stat(want); err != nil {
		return "", fmt.Errorf("%s has no %s", spec, file)
	}
	return want, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func untar(tgz, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("bad path %q in archive", h.Name)
		}
		p := filepath.Join(dst, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
