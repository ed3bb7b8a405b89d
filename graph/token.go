package graph

import "context"

// TokenSource supplies bearer tokens for Graph.
type TokenSource interface {
	// Token returns a valid access token, from cache when possible.
	Token(ctx context.Context) (string, error)
	// Refresh is called after Graph answered 401 with the token Token gave:
	// it must return a token obtained anew, not the cached one.
	Refresh(ctx context.Context) (string, error)
}

// StaticToken is a TokenSource that always returns the same token.
type StaticToken string

func (t StaticToken) Token(context.Context) (string, error)   { return string(t), nil }
func (t StaticToken) Refresh(context.Context) (string, error) { return string(t), nil }
