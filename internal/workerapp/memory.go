package workerapp

import (
	"fmt"
	"runtime/debug"

	"github.com/dustin/go-humanize"
)

// Memory model of the caches, measured by the bench's footprint scenario (docs/performance.md#memory): what one
// cached workflow costs in the worker's sticky cache and in the embedded server's mutable-state cache, in bytes of
// Go heap, and what the process needs before any workflow is cached.
const (
	// StickyEntryBytes is the Go heap one appointment workflow holds in the sticky cache.
	StickyEntryBytes = 32 << 10
	// HistoryEntryBytes is the Go heap one appointment's mutable state holds in the server's cache.
	HistoryEntryBytes = 24 << 10
	// BaseMemory is what the worker and the embedded server use with nothing cached, plus a herd's work in flight.
	BaseMemory = 512 << 20
	// CacheShare is the share of the memory above BaseMemory that the caches may fill: the collector needs the rest
	// as headroom, or it runs back to back as the heap nears the limit.
	CacheShare = 0.5
	// MinCache is the smallest cache a memory limit sizes; below it the limit is refused.
	MinCache = 500
	// DefaultHistoryCache is the embedded server's mutable-state cache without a memory limit.
	DefaultHistoryCache = 20000
)

// ParseMemoryLimit reads a --memory-limit value: a byte count with an optional IEC or SI unit ("2GiB", "1500MiB",
// "2G"). It refuses a limit too small to hold BaseMemory and two caches of MinCache.
func ParseMemoryLimit(v string) (int64, error) {
	n, err := humanize.ParseBytes(v)
	if err != nil {
		return 0, fmt.Errorf("--memory-limit: %q is not a size such as 2GiB or 1500MiB", v)
	}
	if min := minMemoryLimit(); n < uint64(min) {
		return 0, fmt.Errorf("--memory-limit: %s is below the smallest workable limit, %s", humanize.IBytes(n), humanize.IBytes(uint64(min)))
	}
	if n > 1<<50 {
		return 0, fmt.Errorf("--memory-limit: %s is too large", v)
	}
	return int64(n), nil
}

func minMemoryLimit() int64 {
	return BaseMemory + int64(float64(MinCache*(StickyEntryBytes+HistoryEntryBytes))/CacheShare)
}

// CachesForMemory is the size of each cache (sticky and mutable-state, the same count: a herd's workflow needs
// both) that a memory limit of limit bytes allows, at most the defaults.
func CachesForMemory(limit int64) int {
	n := int(CacheShare * float64(limit-BaseMemory) / float64(StickyEntryBytes+HistoryEntryBytes))
	return max(MinCache, min(n, DefaultStickyCache))
}

// SizeCaches applies --memory-limit: it sets the process's soft memory limit (as GOMEMLIMIT would) and sizes each
// cache whose flag was not given explicitly. Without a limit it changes nothing.
func (o *Options) SizeCaches(stickyExplicit, historyExplicit bool) {
	if o.MemoryLimit <= 0 {
		return
	}
	n := CachesForMemory(o.MemoryLimit)
	if !stickyExplicit {
		o.StickyCacheSize = n
	}
	if !historyExplicit {
		o.HistoryCacheSize = n
	}
}

// applyMemoryLimit sets the runtime's soft memory limit when the options carry one.
func (o Options) applyMemoryLimit() {
	if o.MemoryLimit > 0 {
		debug.SetMemoryLimit(o.MemoryLimit)
	}
}
