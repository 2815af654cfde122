package portforward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ServerCertificate reads the member's serving certificate from a TLS handshake through the
// forward. No client certificate is needed to see it.
func (s *Session) ServerCertificate(ctx context.Context) (*x509.Certificate, error) {
	_, f, err := s.ensure(ctx)
	if err != nil {
		return nil, err
	}
	// The forward is shared with the gRPC client. Present the client certificate: etcd resets a
	// connection that brings none, and client-go ends a whole port-forward when one of its
	// connections is reset, which would fail the calls in flight on it.
	return peekServerCert(ctx, f.LocalPort, s.conn.TLS)
}

// peekServerCert reads the certificate the server on localPort presents. client, when set,
// gives the client certificate to present (the server may require one).
func peekServerCert(ctx context.Context, localPort int, client *tls.Config) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	cfg := &tls.Config{
		// Only reading the certificate, trusting nothing it says: verification is skipped here and
		// done for real by the gRPC client.
		InsecureSkipVerify: true, //nolint:gosec // see above
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				if c, err := x509.ParseCertificate(raw[0]); err == nil {
					leaf = c
				}
			}
			return nil
		},
	}
	if client != nil {
		cfg.Certificates = client.Certificates
		cfg.GetClientCertificate = client.GetClientCertificate
	}
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort)))
	if conn != nil {
		_ = conn.Close()
	}
	if leaf != nil {
		return leaf, nil
	}
	if err == nil {
		err = errors.New("no certificate presented")
	}
	return nil, fmt.Errorf("reading the server certificate: %w", err)
}

// probeTLS makes one TLS connection through the forward with the client configuration and sends
// the HTTP/2 preface, so that a certificate problem on either side shows up at once and by name
// instead of as a gRPC deadline: a server certificate our CA does not trust fails the handshake;
// a client certificate the server rejects arrives as an alert on the first read (TLS 1.3).
func probeTLS(ctx context.Context, port int, cfg *tls.Config, timeout time.Duration) error {
	c := cfg.Clone()
	c.NextProtos = []string{"h2"}
	d := tls.Dialer{Config: c, NetDialer: &net.Dialer{Timeout: timeout}}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	// Client preface and an empty SETTINGS frame; the server answers with its SETTINGS.
	preface := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)
	if _, err := conn.Write(preface); err != nil {
		return err
	}
	buf := make([]byte, 1)
	if _, err := conn.Read(buf); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil // no verdict in time: let the real call decide
		}
		return err
	}
	return nil
}

// describeTLS turns a TLS failure into a message that says which side is wrong.
func (s *Session) describeTLS(err error) error {
	src := s.conn.CertSource
	if src == "" {
		src = "the given certificates"
	}
	msg := err.Error()
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	switch {
	case errors.As(err, &uae) || strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Errorf("%s: TLS: the etcd server certificate is not signed by the CA from %s (%v); give the etcd CA with --cacert", s.member, src, err)
	case errors.As(err, &hne):
		return fmt.Errorf("%s: TLS: the etcd server certificate is not valid for the forwarded address (%v); set --tls-server-name to a name it carries", s.member, err)
	case errors.As(err, &cie):
		return fmt.Errorf("%s: TLS: the etcd server certificate is not valid (%v)", s.member, err)
	case strings.Contains(msg, "remote error: tls:"):
		return fmt.Errorf("%s: TLS: etcd rejected the client certificate from %s (%v); it must be signed by the etcd CA and allow client auth", s.member, src, err)
	case strings.Contains(msg, "connection reset") || errors.Is(err, io.EOF):
		return fmt.Errorf("%s: TLS handshake failed: the member closed the connection (%v); check the client certificate from %s, or whether etcd listens on %s", s.member, err, src, s.member.LocalClientURL)
	}
	return fmt.Errorf("%s: TLS to %s failed: %w", s.member, s.member.LocalClientURL, err)
}
