// Package auth signs outlookfs in to Microsoft Graph: device code and browser
// sign-in through MSAL (public client) with a token cache on disk, app-only
// credentials (client secret or certificate, confidential client), or a
// command that prints a token. It yields a graph.TokenSource.
//
// Settings come from flags, then the environment (OUTLOOKFS_*), then the
// profile's section of the config file ($XDG_CONFIG_HOME/outlookfs/config),
// then defaults.
//
// Nothing here logs or returns a token, a refresh token, a client secret or
// MSAL's raw errors (they can embed the token response).
package auth
