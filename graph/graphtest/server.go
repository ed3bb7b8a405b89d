package graphtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// ServerOptions say where and how Start serves the emulator.
type ServerOptions struct {
	GraphAddr  string // Graph host's listen address; default 127.0.0.1:0
	UploadAddr string // upload host's listen address; default 127.0.0.1:0
	// PlainHTTP serves http:// instead of TLS (no CA).
	PlainHTTP bool
	// CAFile is where the CA certificate (PEM) is written; default ca.pem in
	// a new temporary directory removed by Close.
	CAFile string
	// Hosts are extra names or IPs the certificate is valid for, besides
	// 127.0.0.1, ::1 and localhost.
	Hosts []string
	// IdP configures the fake identity provider served on the Graph host.
	IdP IdPOptions
	// HTTP1Only serves HTTP/1.1 alone. By default both hosts also speak HTTP/2 over TLS, as
	// Graph and the upload host do, so a client's transport multiplexes as in production.
	HTTP1Only bool
}

// Server is the emulator served on two listeners: Graph and the upload host.
type Server struct {
	GraphURL  string // Graph base URL including /v1.0, e.g. https://127.0.0.1:41234/v1.0
	RootURL   string // the Graph host's root (control endpoints under /_emulator/)
	UploadURL string // the upload host's base URL
	CAFile    string // the CA certificate (PEM); "" with PlainHTTP
	Emulator  *Emulator
	IdP       *IdP // the fake identity provider, on the Graph host

	pool    *x509.CertPool
	servers []*http.Server
	tmpDir  string

	clientOnce sync.Once
	client     *http.Client
}

// Start listens on two addresses, then serves a new emulator with opts on
// them: the Graph handler on one and the upload handler on the other, over
// TLS unless so.PlainHTTP.
func Start(opts Options, so ServerOptions) (*Server, error) {
	if so.GraphAddr == "" {
		so.GraphAddr = "127.0.0.1:0"
	}
	if so.UploadAddr == "" {
		so.UploadAddr = "127.0.0.1:0"
	}
	gl, err := net.Listen("tcp", so.GraphAddr)
	if err != nil {
		return nil, fmt.Errorf("graphtest: listen %s: %w", so.GraphAddr, err)
	}
	ul, err := net.Listen("tcp", so.UploadAddr)
	if err != nil {
		_ = gl.Close()
		return nil, fmt.Errorf("graphtest: listen %s: %w", so.UploadAddr, err)
	}
	s := &Server{}
	fail := func(err error) (*Server, error) {
		_ = gl.Close()
		_ = ul.Close()
		if s.tmpDir != "" {
			_ = os.RemoveAll(s.tmpDir)
		}
		return nil, err
	}
	scheme := "https"
	var tlsConf *tls.Config
	if so.PlainHTTP {
		scheme = "http"
	} else {
		hosts := append([]string{"127.0.0.1", "::1", "localhost"}, so.Hosts...)
		for _, l := range []net.Listener{gl, ul} {
			if h, _, err := net.SplitHostPort(l.Addr().String()); err == nil {
				hosts = append(hosts, h)
			}
		}
		pki, err := newPKI(hosts)
		if err != nil {
			return fail(fmt.Errorf("graphtest: %w", err))
		}
		caFile := so.CAFile
		if caFile == "" {
			dir, err := os.MkdirTemp("", "graphtest-")
			if err != nil {
				return fail(fmt.Errorf("graphtest: %w", err))
			}
			s.tmpDir = dir
			caFile = filepath.Join(dir, "ca.pem")
		}
		if err := os.WriteFile(caFile, pki.caPEM, 0o644); err != nil {
			return fail(fmt.Errorf("graphtest: write CA: %w", err))
		}
		s.CAFile, s.pool = caFile, pki.pool
		tlsConf = &tls.Config{
			Certificates: []tls.Certificate{pki.leaf},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		}
		if so.HTTP1Only {
			tlsConf.NextProtos = []string{"http/1.1"}
		}
	}
	s.RootURL = scheme + "://" + urlHost(gl.Addr())
	s.GraphURL = s.RootURL + "/v1.0"
	s.UploadURL = scheme + "://" + urlHost(ul.Addr())
	opts.UploadBaseURL = s.UploadURL
	s.Emulator = New(opts)
	s.IdP = InstallIdP(s.Emulator, so.IdP)
	s.Emulator.Mount(controlPrefix+"approve-device", s.IdP.ApproveDeviceHandler())

	for _, p := range []struct {
		l net.Listener
		h http.Handler
	}{{gl, s.Emulator.GraphHandler()}, {ul, s.Emulator.UploadHandler()}} {
		srv := &http.Server{
			Handler:           p.h,
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.Emulator.opts.Logger.Handler(), slog.LevelDebug),
			// A connection-cut fault hijacks an HTTP/1.1 connection and resets an HTTP/2 stream.
			Protocols: new(http.Protocols),
		}
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(tlsConf != nil && !so.HTTP1Only)
		l := p.l
		if tlsConf != nil {
			l = tls.NewListener(l, tlsConf)
		}
		s.servers = append(s.servers, srv)
		go func() { _ = srv.Serve(l) }()
	}
	return s, nil
}

// urlHost is addr as a URL host (IPv6 in brackets).
func urlHost(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return net.JoinHostPort(host, port)
}

// StartT starts a TLS server on 127.0.0.1 for a test, closed by t.Cleanup.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts, ServerOptions{CAFile: filepath.Join(t.TempDir(), "ca.pem")})
	if err != nil {
		t.Fatalf("graphtest.StartT: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Authority is the fake identity provider's authority URL for MSAL
// (https://HOST:PORT/TENANT).
func (s *Server) Authority() string { return s.IdP.Authority(s.RootURL) }

// CertPool is a pool holding the emulator's CA (nil with PlainHTTP).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// HTTPClient is an HTTP client that trusts the emulator's CA (TLS
// verification on).
func (s *Server) HTTPClient() *http.Client {
	s.clientOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		if s.pool != nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
		}
		s.client = &http.Client{Transport: tr}
	})
	return s.client
}

// Close stops both listeners and drops open connections.
func (s *Server) Close() error {
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Close())
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	if s.tmpDir != "" {
		errs = append(errs, os.RemoveAll(s.tmpDir))
	}
	return errors.Join(errs...)
}
