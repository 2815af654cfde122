package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// pki writes a CA and one client pair signed by it into dir; it returns PEM bytes too.
func pki(t *testing.T, dir, prefix string) (ca, crt, key []byte) {
	t.Helper()
	return pkiValid(t, dir, prefix, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// pkiValid is pki with a client certificate valid from notBefore to notAfter.
func pkiValid(t *testing.T, dir, prefix string, notBefore, notAfter time.Time) (ca, crt, key []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: notBefore, NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &k.PublicKey, caKey)
	kb, _ := x509.MarshalECPrivateKey(k)
	ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	crt = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	key = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	if dir != "" {
		write := func(name string, data []byte, mode os.FileMode) {
			if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
				t.Fatal(err)
			}
		}
		write("ca.crt", ca, 0o644)
		write(prefix+".crt", crt, 0o644)
		write(prefix+".key", key, 0o600)
	}
	return ca, crt, key
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	pki(t, dir, "client")
	o := Options{CACert: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "client.crt"), Key: filepath.Join(dir, "client.key"), KubeadmDir: "/nonexistent"}
	b, _, err := Find(context.Background(), o)
	if err != nil || b == nil || !strings.HasPrefix(b.Source, "flags (--cacert=") {
		t.Fatalf("flags: %v %v", b, err)
	}
	if cfg, err := b.TLSConfig("etcd.example"); err != nil || cfg.ServerName != "etcd.example" || len(cfg.Certificates) != 1 {
		t.Errorf("tls config %v %v", cfg, err)
	}
}

func TestFlagErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	pki(t, dir, "client")
	ca, crt, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	otherDir := t.TempDir()
	pki(t, otherDir, "other")
	loose := filepath.Join(dir, "loose.key")
	data, _ := os.ReadFile(key)
	_ = os.WriteFile(loose, data, 0o644)

	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"missing key flag", Options{CACert: ca, Cert: crt}, "--key also needed"},
		{"missing key file", Options{CACert: ca, Cert: crt, Key: filepath.Join(dir, "nope.key")}, "cannot read client key file " + filepath.Join(dir, "nope.key") + ": no such file or directory"},
		{"loose key", Options{CACert: ca, Cert: crt, Key: loose}, "client key file " + loose + " is readable by group or others (mode 0644); run chmod 600"},
		{"key of another pair", Options{CACert: ca, Cert: crt, Key: filepath.Join(otherDir, "other.key")}, "client certificate and key do not form a pair"},
		{"CA file not PEM", Options{CACert: key, Cert: crt, Key: key}, "no PEM certificate in the CA certificate"},
	}
	for _, c := range cases {
		_, _, err := Find(context.Background(), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestKubeadmOrder(t *testing.T) {
	dir := t.TempDir()
	_, _, err := func() (*Bundle, []string, error) { return Find(context.Background(), Options{KubeadmDir: dir}) }()
	if err != nil {
		t.Fatal(err)
	}
	pki(t, dir, "server")
	b, _, err := Find(context.Background(), Options{KubeadmDir: dir})
	if err != nil || b == nil || !strings.Contains(b.Source, "server.crt") {
		t.Fatalf("server pair: %v %v", b, err)
	}
	// healthcheck-client is preferred; it must be signed by the same CA to be valid, so rewrite all.
	pki(t, dir, "healthcheck-client")
	b, _, err = Find(context.Background(), Options{KubeadmDir: dir})
	if err != nil || b == nil || !strings.Contains(b.Source, "healthcheck-client.crt") {
		t.Fatalf("healthcheck pair: %v %v", b, err)
	}
	b, notes, err := Find(context.Background(), Options{KubeadmDir: filepath.Join(dir, "absent")})
	if err != nil || b != nil || len(notes) != 3 || !strings.Contains(notes[1], "no kubeadm etcd PKI on this machine") {
		t.Errorf("absent: %v %v %v", b, notes, err)
	}
}

func TestSecret(t *testing.T) {
	ca, crt, key := pki(t, "", "")
	client := fake.NewSimpleClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "etcd-client"},
			Data: map[string][]byte{"ca.crt": ca, "tls.crt": crt, "tls.key": key}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "partial"},
			Data: map[string][]byte{"tls.crt": crt}})
	b, _, err := Find(context.Background(), Options{KubeadmDir: "/nonexistent", Secret: "ops/etcd-client", Client: client})
	if err != nil || b == nil || b.Source != "secret ops/etcd-client" {
		t.Fatalf("secret: %v %v", b, err)
	}
	_, _, err = Find(context.Background(), Options{KubeadmDir: "/nonexistent", Secret: "ops/partial", Client: client})
	if err == nil || !strings.Contains(err.Error(), "secret ops/partial lacks the key(s)") {
		t.Errorf("partial: %v", err)
	}
	_, _, err = Find(context.Background(), Options{KubeadmDir: "/nonexistent", Secret: "just-a-name", Client: client})
	if err == nil || !strings.Contains(err.Error(), "want NAMESPACE/NAME") {
		t.Errorf("bad ref: %v", err)
	}
}

// An expired or not yet valid client certificate is named as such before anything is dialled
// (etcd's handshake alert would not say why), from every source.
func TestClientCertificateValidity(t *testing.T) {
	now := time.Now()
	expired, future := now.Add(-2*time.Hour), now.Add(2*time.Hour)
	dir := t.TempDir()
	pkiValid(t, dir, "old", now.Add(-48*time.Hour), expired)
	flags := Options{CACert: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "old.crt"), Key: filepath.Join(dir, "old.key"), KubeadmDir: "/nonexistent"}
	_, _, err := Find(context.Background(), flags)
	want := `flags (--cacert=` + flags.CACert
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `the client certificate (CN "client") expired at `+expired.UTC().Format(time.RFC3339)) {
		t.Errorf("expired, flags: %v", err)
	}
	pkiValid(t, dir, "early", future, future.Add(time.Hour))
	flags.CACert, flags.Cert, flags.Key = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "early.crt"), filepath.Join(dir, "early.key")
	_, _, err = Find(context.Background(), flags)
	if err == nil || !strings.Contains(err.Error(), "is not valid before "+future.UTC().Format(time.RFC3339)) || !strings.Contains(err.Error(), "clock") {
		t.Errorf("not yet valid, flags: %v", err)
	}

	ca, crt, key := pkiValid(t, "", "", now.Add(-48*time.Hour), expired)
	client := fake.NewSimpleClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "old"},
		Data: map[string][]byte{"ca.crt": ca, "tls.crt": crt, "tls.key": key}})
	_, _, err = Find(context.Background(), Options{KubeadmDir: "/nonexistent", Secret: "ops/old", Client: client})
	if err == nil || !strings.Contains(err.Error(), "secret ops/old: the client certificate") || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("expired, secret: %v", err)
	}

	// kubeadm: an expired healthcheck-client pair gives way to the server pair; when both are
	// expired, none is used and the note says why.
	kdir := t.TempDir()
	pki(t, kdir, "server")
	pkiValid(t, kdir, "healthcheck-client", now.Add(-48*time.Hour), expired)
	b, _, err := Find(context.Background(), Options{KubeadmDir: kdir})
	if err != nil || b == nil || !strings.Contains(b.Source, "server.crt") {
		t.Errorf("kubeadm, healthcheck-client expired: %s %v", source(b), err)
	}
	pkiValid(t, kdir, "server", now.Add(-48*time.Hour), expired)
	b, notes, err := Find(context.Background(), Options{KubeadmDir: kdir})
	if err != nil || b != nil || !strings.Contains(strings.Join(notes, "; "), "expired at") {
		t.Errorf("kubeadm, both expired: %s %v %v", source(b), notes, err)
	}
}

func source(b *Bundle) string {
	if b == nil {
		return "no bundle"
	}
	return b.Source
}
