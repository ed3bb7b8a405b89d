package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/outlookfs/outlookfs/graph/graphtest"
)

// emulatorFlags are the emulator's settings on the command line.
type emulatorFlags struct {
	so          graphtest.ServerOptions
	opts        graphtest.Options
	pascal      bool
	devicePolls int
	tokenTTL    time.Duration
}

func (f *emulatorFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&f.so.GraphAddr, "listen", "127.0.0.1:0", "address of the Graph (and sign-in) listener")
	fl.StringVar(&f.so.UploadAddr, "upload-listen", "127.0.0.1:0", "address of the upload host's listener")
	fl.BoolVar(&f.so.HTTP1Only, "http1", false, "speak HTTP/1.1 only (by default HTTP/2 too, as Graph does)")
	fl.BoolVar(&f.so.PlainHTTP, "plain-http", false, "serve http:// instead of TLS (MSAL sign-in needs TLS)")
	fl.StringVar(&f.so.CAFile, "ca-file", "", "where to write the CA certificate (default: a temporary file)")
	fl.Int64Var(&f.opts.MessageSizeLimit, "message-size-limit", 35<<20, "mailbox message size limit in bytes (Exchange default 35 MB)")
	fl.BoolVar(&f.opts.MessageSizeEncoded, "message-size-encoded", false, "count the message size limit on the attachments' MIME-encoded size (base64) instead of their bytes")
	fl.DurationVar(&f.opts.SessionLifetime, "session-lifetime", 15*time.Minute, "lifetime of an upload session")
	fl.IntVar(&f.opts.StatusGET, "status-get", 200, "answer to GET on an upload URL (a status request Outlook does not document): 200, 404 or 405")
	fl.BoolVar(&f.opts.FinalPUTJSON, "final-put-json", false, "answer an upload session's final range 200 with the attachment's JSON and no Location (as some hosts do)")
	fl.BoolVar(&f.pascal, "pascal-case", false, "spell the upload host's JSON keys in PascalCase (as the China cloud does)")
	fl.Int64Var(&f.opts.RequestLimit, "request-limit", 4<<20, "largest Graph request body accepted")
	fl.IntVar(&f.opts.RequestLimitStatus, "request-limit-status", 400, "answer to a body over --request-limit: 400 (Maximum request length exceeded), 413, or 500 with an empty body")
	fl.IntVar(&f.opts.MaxConcurrent, "max-concurrent", 4, "requests in flight per mailbox before 429 (negative: unlimited)")
	fl.StringVar(&f.opts.RetryAfter, "retry-after", "1", "Retry-After value sent with 429s (seconds, fractional seconds or an HTTP date)")
	fl.Int64Var(&f.opts.VolumeLimit, "volume-limit", 0, "bytes uploaded per mailbox per 5 minutes before 429 (Graph: 150 MB; 0 = off)")
	fl.BoolVar(&f.opts.AllowSharedUploadSessions, "allow-shared-upload-sessions", false, "let delegated tokens create upload sessions on shared mailboxes (Graph answers 403)")
	fl.IntVar(&f.opts.PageSize, "page-size", 10, "default $top")
	fl.Int64Var(&f.opts.Bandwidth, "bandwidth", 0, "simulated link bandwidth in bytes per second, shared by every connection (0 = unlimited)")
	fl.DurationVar(&f.opts.Latency, "latency", 0, "simulated round-trip latency added to every request")
	fl.IntVar(&f.devicePolls, "device-polls", 2, "device-code polls answered authorization_pending before the code is approved (-1: approve only through /_emulator/)")
	fl.DurationVar(&f.tokenTTL, "token-ttl", time.Hour, "lifetime of the access tokens the sign-in endpoints issue")
}

// startEmulator starts the emulator with the demo mailbox and the identity provider.
func (f *emulatorFlags) start() (*graphtest.Server, *graphtest.IdP, *graphtest.Mailbox, error) {
	if f.pascal {
		f.opts.KeySpelling = graphtest.PascalCase
	}
	switch f.opts.RequestLimitStatus {
	case 400, 413, 500:
	default:
		return nil, nil, nil, fmt.Errorf("--request-limit-status %d: want 400, 413 or 500", f.opts.RequestLimitStatus)
	}
	switch f.opts.StatusGET {
	case 200, 404, 405:
	default:
		return nil, nil, nil, fmt.Errorf("--status-get %d: want 200, 404 or 405", f.opts.StatusGET)
	}
	f.so.IdP = graphtest.IdPOptions{User: graphtest.DemoUPN, TokenTTL: f.tokenTTL, DevicePendingPolls: f.devicePolls}
	if f.devicePolls < 0 {
		f.so.IdP.ManualDeviceApproval = true
	}
	srv, err := graphtest.Start(f.opts, f.so)
	if err != nil {
		return nil, nil, nil, err
	}
	mb := graphtest.Seed(srv.Emulator)
	return srv, srv.IdP, mb, nil
}

// emulatorInfo is the JSON line `outlookfs emulator` prints on start.
type emulatorInfo struct {
	Graph     string `json:"graph"`
	Upload    string `json:"upload"`
	Root      string `json:"root"`
	Token     string `json:"token"`
	AppToken  string `json:"app_token"`
	Mailbox   string `json:"mailbox"`
	CA        string `json:"ca,omitempty"`
	Authority string `json:"authority"`
	ClientID  string `json:"client_id"`
}

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f emulatorFlags
	fl := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fl.SetOutput(stderr)
	f.register(fl)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: outlookfs emulator [flags]\n\nServes a local Microsoft Graph with a demo mailbox until SIGINT or SIGTERM,\nand prints one JSON line with its URLs, a token and the CA file.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	srv, idp, mb, err := f.start()
	if err != nil {
		return err
	}
	defer srv.Close()
	info := emulatorInfo{Graph: srv.GraphURL, Upload: srv.UploadURL, Root: srv.RootURL, Token: mb.Token(),
		AppToken: srv.Emulator.AppToken(), Mailbox: graphtest.DemoUPN, CA: srv.CAFile,
		Authority: idp.Authority(srv.RootURL), ClientID: idp.ClientID()}
	line, _ := json.Marshal(info)
	fmt.Fprintln(stdout, string(line))
	<-ctx.Done()
	return nil
}
