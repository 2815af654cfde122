// Command oci-image writes an OCI image layout archive (a tar that `ctr images import` accepts)
// holding one layer made of the given files, so that the kubeadm e2e cluster needs no registry.
//
//	oci-image -o etcd.tar -ref registry.k8s.io/etcd:3.6.16-0 \
//	    -file /usr/local/bin/etcd=$CACHE/etcd-v3.6.16/etcd -file ...
//
// The image has no shell and no libraries: only the files named, their parent directories and
// a PATH in the config, like the distroless images kubeadm pulls from registry.k8s.io.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(s string) error { *f = append(*f, s); return nil }

// epoch is the fixed modification time of every entry, so that an image is reproducible.
var epoch = time.Unix(0, 0).UTC()

func main() {
	var (
		out, ref, entrypoint string
		files                fileList
	)
	flag.StringVar(&out, "o", "", "output archive")
	flag.StringVar(&ref, "ref", "", "image reference (the org.opencontainers.image.ref.name annotation)")
	flag.StringVar(&entrypoint, "entrypoint", "", "the image's entrypoint (one path; none when empty: the pod spec's command runs)")
	flag.Var(&files, "file", "DEST=SRC: put the host file SRC at DEST in the image, mode kept (repeatable)")
	flag.Parse()
	if out == "" || ref == "" || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "oci-image: -o, -ref and at least one -file are required")
		os.Exit(2)
	}
	if err := write(out, ref, entrypoint, files); err != nil {
		fmt.Fprintln(os.Stderr, "oci-image:", err)
		os.Exit(1)
	}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    map[string]string `json:"platform,omitempty"`
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// layer returns an uncompressed layer tar with the files and their parent directories.
func layer(files []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	sort.Strings(files)
	for _, spec := range files {
		dest, src, ok := strings.Cut(spec, "=")
		if !ok || !path.IsAbs(dest) {
			return nil, fmt.Errorf("-file %q: want /ABSOLUTE/DEST=SRC", spec)
		}
		dest = strings.TrimPrefix(path.Clean(dest), "/")
		var parents []string
		for d := path.Dir(dest); d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dest, Mode: int64(st.Mode().Perm()), Size: int64(len(b)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func write(out, ref, entrypoint string, files []string) error {
	l, err := layer(files)
	if err != nil {
		return err
	}
	runConfig := map[string]any{"Env": []string{"PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	if entrypoint != "" {
		runConfig["Entrypoint"] = []string{entrypoint}
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config":       runConfig,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digest(l)}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest(config), Size: int64(len(config))},
		"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest(l), Size: int64(len(l))}},
	})
	if err != nil {
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []descriptor{{
			MediaType:   "application/vnd.oci.image.manifest.v1+json",
			Digest:      digest(manifest),
			Size:        int64(len(manifest)),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": ref},
			Platform:    map[string]string{"architecture": "amd64", "os": "linux"},
		}},
	})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(path.Dir(out), ".oci-image-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + strings.TrimPrefix(digest(config), "sha256:"), config},
		{"blobs/sha256/" + strings.TrimPrefix(digest(manifest), "sha256:"), manifest},
		{"blobs/sha256/" + strings.TrimPrefix(digest(l), "sha256:"), l},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, bytes.NewReader(e.data)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}
