package cache

import "time"

// loop runs until Close: it writes back read times every
// accessFlushInterval, and garbage collects the value log every gcInterval
// and whenever kickGC asks (after evictions and Forget).
func (c *Cache) loop() {
	defer close(c.loopDone)
	flush := time.NewTicker(accessFlushInterval)
	defer flush.Stop()
	gc := time.NewTicker(gcInterval)
	defer gc.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-flush.C:
			if err := c.flushAccess(); err != nil {
				c.log.Warn("cache: could not save read times", "err", err)
			}
		case <-gc.C:
			c.runGC()
		case <-c.gcKick:
			c.runGC()
		}
	}
}

// kickGC asks the background loop for a value log GC soon; it never blocks.
func (c *Cache) kickGC() {
	select {
	case c.gcKick <- struct{}{}:
	default:
	}
}

// runGC rewrites value log files until Badger finds none worth rewriting, or
// Close is called.
func (c *Cache) runGC() {
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		err := c.db.RunValueLogGC(gcDiscardRatio)
		if err == nil {
			continue
		}
		if !errorsIsGCDone(err) {
			c.log.Warn("cache: value log garbage collection failed", "err", err)
		}
		return
	}
}
