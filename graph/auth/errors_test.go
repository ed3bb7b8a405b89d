package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

func callErr(status int, body string, consumed bool) error {
	resp := &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewBufferString(body))}
	if consumed {
		resp.Body = io.NopCloser(&bytes.Buffer{})
	}
	return fmt.Errorf("wrapped: %w", msalerrors.CallErr{
		Resp: resp,
		Err:  fmt.Errorf("http call(https://login.test/t/oauth2/v2.0/token)(POST) error: reply status code was %d:\n%s", status, body),
	})
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	const grantBody = `{"error":"invalid_grant","error_description":"AADSTS50173: The provided grant has expired due to it being revoked. Trace ID: 1 Correlation ID: 2 Timestamp: 3","error_codes":[50173]}`
	tests := []struct {
		name      string
		err       error
		loginReq  bool
		want      string
		forbidden string
	}{
		{"invalid_grant", callErr(400, grantBody, false), true, "sign-in expired for profile work: run `outlookfs login --profile work`", "AADSTS"},
		{"invalid_grant, body consumed by MSAL", callErr(400, grantBody, true), true, "sign-in expired for profile work", "http call"},
		{"interaction_required", callErr(400, `{"error":"interaction_required","error_description":"AADSTS50076: MFA."}`, false), true, "sign-in expired", ""},
		{"invalid_client", callErr(401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: abc"}`, false),
			false, "auth: op: the identity provider answered 401 invalid_client: AADSTS7000215: Invalid client secret provided.", "Trace ID"},
		{"JSON the client cannot read", fmt.Errorf("x: %w", msalerrors.InvalidJsonErr{Err: errors.New(`json decode error: raw message was: {"access_token":"SECRET-AT","refresh_token":"SECRET-RT"`)}),
			false, "not understood", "SECRET"},
		{"no refresh token", errors.New("no token found"), true, "sign-in expired", ""},
		{"other", errors.New("TenantDiscoveryResponse: issuer was not found\nmore"), false, "auth: op: failed: TenantDiscoveryResponse: issuer was not found", "more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := translate(ctx, "op", "work", tt.err)
			if errors.Is(err, ErrLoginRequired) != tt.loginReq {
				t.Errorf("ErrLoginRequired = %v, want %v (%v)", !tt.loginReq, tt.loginReq, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if tt.forbidden != "" && strings.Contains(err.Error(), tt.forbidden) {
				t.Errorf("error %q contains %q", err, tt.forbidden)
			}
			var raw msalerrors.CallErr
			if errors.As(err, &raw) {
				t.Error("the translated error still wraps MSAL's raw error")
			}
		})
	}
	// The default profile's command has no --profile.
	if err := translate(ctx, "op", DefaultProfile, callErr(400, grantBody, false)); err.Error() != "sign-in expired for profile default: run `outlookfs login`" {
		t.Errorf("default profile: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := translate(cctx, "op", "p", errors.New("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
