package cache

import (
	"fmt"
	"log/slog"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// slogBadger routes Badger's log to slog. Only warnings and errors pass:
// Badger's info lines are routine.
type slogBadger struct{ l *slog.Logger }

var _ badger.Logger = slogBadger{}

func (s slogBadger) Errorf(format string, args ...any) {
	s.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (s slogBadger) Warningf(format string, args ...any) {
	s.l.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (slogBadger) Infof(string, ...any)  {}
func (slogBadger) Debugf(string, ...any) {}
