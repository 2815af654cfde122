// Package certs finds the client certificates the port-forward transport presents to etcd, in a
// fixed order: the --cacert/--cert/--key flags; the kubeadm files on this machine (when the
// plugin runs on a control-plane node); a Secret named with --cert-secret. Certificates and keys
// are read into memory and never written anywhere.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultKubeadmDir is where kubeadm keeps the etcd PKI on control-plane nodes.
const DefaultKubeadmDir = "/etc/kubernetes/pki/etcd"

// Secret keys, as in a kubernetes.io/tls Secret plus the CA.
const (
	SecretCAKey   = "ca.crt"
	SecretCertKey = "tls.crt"
	SecretKeyKey  = "tls.key"
)

// Bundle is a CA and a client key pair, held in memory, and where they came from.
type Bundle struct {
	// Source names where the material came from, for messages and -v output.
	Source string
	CA     []byte
	Cert   []byte
	Key    []byte
}

// Options says where to look.
type Options struct {
	CACert, Cert, Key string
	// KubeadmDir is the kubeadm etcd PKI directory (DefaultKubeadmDir when empty).
	KubeadmDir string
	// Secret is NAMESPACE/NAME of a Secret with ca.crt, tls.crt and tls.key.
	Secret string
	Client kubernetes.Interface
}

// FlagsGiven reports whether any certificate flag was set.
func (o Options) FlagsGiven() bool { return o.CACert != "" || o.Cert != "" || o.Key != "" }

// Find returns the first source that has certificates. It returns (nil, notes, nil) when no
// source has any; notes say, for -v, why each source was passed over. An explicitly given source
// (flags, --cert-secret) that is broken is an error, never skipped.
func Find(ctx context.Context, o Options) (*Bundle, []string, error) {
	var notes []string
	if o.FlagsGiven() {
		b, err := fromFlags(o)
		return b, nil, err
	}
	notes = append(notes, "no --cacert/--cert/--key flags")
	dir := o.KubeadmDir
	if dir == "" {
		dir = DefaultKubeadmDir
	}
	b, note := fromKubeadm(dir)
	if b != nil {
		return b, notes, nil
	}
	notes = append(notes, note)
	if o.Secret != "" {
		b, err := fromSecret(ctx, o.Client, o.Secret)
		return b, notes, err
	}
	notes = append(notes, "no --cert-secret")
	return nil, notes, nil
}

func fromFlags(o Options) (*Bundle, error) {
	var missing []string
	for _, f := range []struct{ name, val string }{{"--cacert", o.CACert}, {"--cert", o.Cert}, {"--key", o.Key}} {
		if f.val == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("client certificate flags are incomplete: %s also needed (--cacert, --cert and --key go together)", strings.Join(missing, " and "))
	}
	return readFiles(fmt.Sprintf("flags (--cacert=%s --cert=%s --key=%s)", o.CACert, o.Cert, o.Key), o.CACert, o.Cert, o.Key)
}

// fromKubeadm uses the healthcheck client pair, else the server pair (which kubeadm issues with
// client usage too). Files that do not exist mean "not a control-plane node"; files that exist
// but cannot be read are named in the note.
func fromKubeadm(dir string) (*Bundle, string) {
	ca := filepath.Join(dir, "ca.crt")
	if _, err := os.Stat(ca); err != nil {
		return nil, fmt.Sprintf("no kubeadm etcd PKI on this machine (%s: %v)", ca, errors.Unwrap(err))
	}
	var problems []string
	for _, pair := range []string{"healthcheck-client", "server"} {
		crt, key := filepath.Join(dir, pair+".crt"), filepath.Join(dir, pair+".key")
		if _, err := os.Stat(crt); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", crt, errors.Unwrap(err)))
			continue
		}
		b, err := readFiles(fmt.Sprintf("kubeadm files (%s, %s, %s)", ca, crt, key), ca, crt, key)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		return b, ""
	}
	return nil, "kubeadm etcd PKI not usable: " + strings.Join(problems, "; ")
}

func readFiles(source, ca, crt, key string) (*Bundle, error) {
	b := &Bundle{Source: source}
	var err error
	if b.CA, err = readFile("CA certificate", ca); err != nil {
		return nil, err
	}
	if b.Cert, err = readFile("client certificate", crt); err != nil {
		return nil, err
	}
	if err := checkKeyMode(key); err != nil {
		return nil, err
	}
	if b.Key, err = readFile("client key", key); err != nil {
		return nil, err
	}
	if _, err := b.TLSConfig(""); err != nil {
		return nil, err
	}
	if err := b.CheckValidity(time.Now()); err != nil {
		return nil, err
	}
	return b, nil
}

// CheckValidity refuses a client certificate that has expired or is not valid yet. etcd would
// refuse it in the TLS handshake with an alert that does not say why, so it is checked here,
// before anything is dialled.
func (b *Bundle) CheckValidity(now time.Time) error {
	block, _ := pem.Decode(b.Cert)
	if block == nil {
		return fmt.Errorf("%s: no PEM certificate in the client certificate", b.Source)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("%s: cannot parse the client certificate: %w", b.Source, err)
	}
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("%s: the client certificate (CN %q) expired at %s; renew it (kubeadm: kubeadm certs renew etcd-healthcheck-client) or give a valid one",
			b.Source, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("%s: the client certificate (CN %q) is not valid before %s and this machine's clock says %s; check the clock, or give a valid certificate",
			b.Source, c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func readFile(what, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read %s file %s: %v", what, path, pe.Err)
		}
		return nil, fmt.Errorf("cannot read %s file %s: %w", what, path, err)
	}
	return data, nil
}

// checkKeyMode refuses private keys that the group or others may read: access to etcd is root on
// the cluster, and a loose key is how it leaks.
func checkKeyMode(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("cannot read client key file %s: %v", path, pe.Err)
		}
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("client key file %s is readable by group or others (mode %04o); run chmod 600 %s", path, perm, path)
	}
	return nil
}

func fromSecret(ctx context.Context, client kubernetes.Interface, ref string) (*Bundle, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("--cert-secret %q: want NAMESPACE/NAME", ref)
	}
	if client == nil {
		return nil, fmt.Errorf("--cert-secret %s: no Kubernetes client", ref)
	}
	s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("RBAC denied get secrets %q in namespace %q (--cert-secret needs get on that secret): %w", name, ns, err)
		}
		return nil, fmt.Errorf("cannot read secret %s: %w", ref, err)
	}
	b := &Bundle{Source: "secret " + ref, CA: s.Data[SecretCAKey], Cert: s.Data[SecretCertKey], Key: s.Data[SecretKeyKey]}
	var missing []string
	for k, v := range map[string][]byte{SecretCAKey: b.CA, SecretCertKey: b.Cert, SecretKeyKey: b.Key} {
		if len(v) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("secret %s lacks the key(s) %s (it needs ca.crt, tls.crt and tls.key)", ref, strings.Join(missing, ", "))
	}
	if _, err := b.TLSConfig(""); err != nil {
		return nil, err
	}
	if err := b.CheckValidity(time.Now()); err != nil {
		return nil, err
	}
	return b, nil
}

// TLSConfig builds the client TLS configuration. serverName overrides the name the server
// certificate is verified against; empty means the dialled address (127.0.0.1 through a forward,
// which kubeadm's server certificates carry as a SAN).
func (b *Bundle) TLSConfig(serverName string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CA) {
		return nil, fmt.Errorf("%s: no PEM certificate in the CA certificate", b.Source)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: client certificate and key do not form a pair: %w", b.Source, err)
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
