package apple

import (
	"container/list"
	"sync"
)

// CacheKey identifies one rendering: a pass version drawn with a template
// version, so editing the template never serves stale files.
type CacheKey struct {
	PassID          string
	Version         int64
	TemplateVersion int64
	// Credentials is the credentials' upload time (µs): a new Pass Type ID
	// changes pass.json.
	Credentials int64
}

// Cache is a bounded LRU of unsigned Files per (pass, version, template version), so a
// device re-downloading an unchanged pass costs one signature, not a
// render. The key assumes a pass's version changes whenever its rendering
// would (template edits included); callers that cannot promise that must
// not cache. Safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *cacheEntry
	items map[CacheKey]*list.Element
}

type cacheEntry struct {
	key   CacheKey
	files *Files
}

// NewCache holds at most max entries (at least one).
func NewCache(max int) *Cache {
	if max < 1 {
		max = 1
	}
	return &Cache{max: max, order: list.New(), items: make(map[CacheKey]*list.Element, max)}
}

// Get returns the cached files of a rendering.
func (c *Cache) Get(key CacheKey) (*Files, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).files, true
}

// Add stores the files of a rendering, evicting the least recently
// used entry when full.
func (c *Cache) Add(key CacheKey, f *Files) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*cacheEntry).files = f
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, files: f})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}

// Len is the number of cached entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
