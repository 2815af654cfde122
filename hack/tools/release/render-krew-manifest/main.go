// Command render-krew-manifest renders the krew-release-bot template .krew.yaml the way the bot
// does, but from local archives: addURIAndSha keeps the release URL and takes the sha256 of the
// file with the same name in the dist directory.
//
//	render-krew-manifest -template .krew.yaml -tag v0.1.0 -dist dist -o dist/etcd.yaml
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

const releasePrefix = "https://github.com/kubectl-etcd/kubectl-etcd/releases/download/"

var semverTag = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

func main() {
	var tmplPath, tag, distDir, out string
	flag.StringVar(&tmplPath, "template", ".krew.yaml", "krew-release-bot template to render")
	flag.StringVar(&tag, "tag", "", "release tag, vX.Y.Z (the template's .TagName)")
	flag.StringVar(&distDir, "dist", "dist", "directory holding the release archives")
	flag.StringVar(&out, "o", "", "write the manifest here (default: stdout)")
	flag.Parse()
	if err := run(tmplPath, tag, distDir, out); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run(tmplPath, tag, distDir, out string) error {
	if !semverTag.MatchString(tag) {
		return fmt.Errorf("tag %q is not of the form vX.Y.Z that krew requires; pass -tag", tag)
	}
	src, err := os.ReadFile(tmplPath)
	if err != nil {
		return err
	}
	var assets []string
	funcs := template.FuncMap{
		// Same signature and output as krew-release-bot's: the URL is itself a template over
		// .TagName and .Version, and the sha256 line is indented by 4 spaces.
		"addURIAndSha": func(rawURL, tag string) (string, error) {
			u, err := expandURL(rawURL, tag)
			if err != nil {
				return "", err
			}
			if !strings.HasPrefix(u, releasePrefix+tag+"/") {
				return "", fmt.Errorf("asset URL %q is not under %s%s/", u, releasePrefix, tag)
			}
			parsed, err := url.Parse(u)
			if err != nil {
				return "", fmt.Errorf("asset URL %q: %w", u, err)
			}
			file := filepath.Join(distDir, path.Base(parsed.Path))
			sum, err := sha256File(file)
			if err != nil {
				return "", fmt.Errorf("asset %s: %w; run hack/dist.sh to build the archives", path.Base(parsed.Path), err)
			}
			assets = append(assets, file)
			return fmt.Sprintf("uri: %s\n    sha256: %s", u, sum), nil
		},
	}
	t, err := template.New(filepath.Base(tmplPath)).Option("missingkey=error").Funcs(funcs).Parse(string(src))
	if err != nil {
		return fmt.Errorf("parse %s: %w", tmplPath, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, struct{ TagName string }{TagName: tag}); err != nil {
		return fmt.Errorf("render %s: %w", tmplPath, err)
	}
	if len(assets) == 0 {
		return errors.New("the template has no addURIAndSha call, so the manifest names no archive")
	}
	manifest := fmt.Sprintf("# Rendered by hack/dist.sh from .krew.yaml for %s with the sha256 of the archives it built;\n"+
		"# do not edit: change .krew.yaml and run hack/dist.sh %s.\n", tag, tag) + stripLeadingComments(buf.String())
	if out == "" {
		_, err = io.WriteString(os.Stdout, manifest)
		return err
	}
	return os.WriteFile(out, []byte(manifest), 0o644)
}

// stripLeadingComments drops the template's own header comment, which describes the template.
func stripLeadingComments(s string) string {
	for strings.HasPrefix(s, "#") {
		_, rest, found := strings.Cut(s, "\n")
		if !found {
			return ""
		}
		s = rest
	}
	return s
}

func expandURL(rawURL, tag string) (string, error) {
	t, err := template.New("url").Option("missingkey=error").Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("asset URL template %q: %w", rawURL, err)
	}
	var buf bytes.Buffer
	err = t.Execute(&buf, struct{ TagName, Version string }{TagName: tag, Version: strings.TrimPrefix(tag, "v")})
	if err != nil {
		return "", fmt.Errorf("asset URL template %q: %w", rawURL, err)
	}
	return buf.String(), nil
}

func sha256File(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
