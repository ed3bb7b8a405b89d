package graphtest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// queryParam reads an OData query option, with or without its "$".
func queryParam(q url.Values, name string) (string, bool) {
	for k, v := range q {
		if strings.EqualFold(k, "$"+name) || strings.EqualFold(k, name) {
			return v[0], true
		}
	}
	return "", false
}

// selection is a parsed $select: canonical property names; nil selects all.
type selection map[string]bool

func (s selection) has(name string) bool { return s == nil || s[name] }

// parseSelect reads $select against the type's known properties. An unknown
// property is refused with 400, as Graph does.
func parseSelect(c *call, typeName string, known []string) (selection, bool) {
	raw, ok := queryParam(c.r.URL.Query(), "select")
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, true
	}
	sel := selection{"id": true}
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		found := false
		for _, k := range known {
			if strings.EqualFold(k, f) {
				sel[k] = true
				found = true
				break
			}
		}
		if !found {
			writeError(c.w, c.r, http.StatusBadRequest, "RequestBroker--ParseUri",
				"Could not find a property named '"+f+"' on type '"+typeName+"'.")
			return nil, false
		}
	}
	return sel, true
}

// project keeps the selected properties of an entity (and its id and
// annotations).
func project(full map[string]any, sel selection) map[string]any {
	if sel == nil {
		return full
	}
	out := make(map[string]any, len(sel)+2)
	for k, v := range full {
		if sel[k] || strings.HasPrefix(k, "@odata.") {
			out[k] = v
		}
	}
	return out
}

// paging reads $top and the page offset ($skip, or the opaque $skiptoken
// when opaque is set). On bad values it answers 400 and returns false.
func paging(c *call, opaque bool) (top, skip int, ok bool) {
	q := c.r.URL.Query()
	top = c.e.opts.PageSize
	if v, has := queryParam(q, "top"); has {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > c.e.opts.MaxPageSize {
			writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest,
				"Invalid value '"+v+"' for $top: it must be between 1 and "+strconv.Itoa(c.e.opts.MaxPageSize)+".")
			return 0, 0, false
		}
		top = n
	}
	name := "skip"
	if opaque {
		name = "skiptoken"
	}
	if v, has := queryParam(q, name); has {
		n, err := parseSkip(v, opaque)
		if err != nil || n < 0 {
			writeError(c.w, c.r, http.StatusBadRequest, codeBadRequest, "Invalid $"+name+".")
			return 0, 0, false
		}
		skip = n
	}
	return top, skip, true
}

func parseSkip(v string, opaque bool) (int, error) {
	if opaque {
		v = strings.TrimPrefix(v, skipTokenPrefix)
	}
	return strconv.Atoi(v)
}

const skipTokenPrefix = "MTpvZmZzZXQ6"

// nextLink is the absolute URL of the page after skip+top: the request's
// own URL with the offset replaced.
func nextLink(c *call, skip int, opaque bool) string {
	q := url.Values{}
	for k, v := range c.r.URL.Query() {
		lk := strings.ToLower(strings.TrimPrefix(k, "$"))
		if lk == "skip" || lk == "skiptoken" {
			continue
		}
		q[k] = v
	}
	if opaque {
		q.Set("$skiptoken", skipTokenPrefix+strconv.Itoa(skip))
	} else {
		q.Set("$skip", strconv.Itoa(skip))
	}
	return baseURL(c.r) + c.r.URL.EscapedPath() + "?" + q.Encode()
}

// writePage answers a page of a collection: value, and @odata.nextLink when
// more follow.
func writePage(c *call, context string, entities []map[string]any, skip, top int, more, opaque bool) {
	body := map[string]any{
		"@odata.context": context,
		"value":          entities,
	}
	if more {
		body["@odata.nextLink"] = nextLink(c, skip+top, opaque)
	}
	writeJSON(c.w, http.StatusOK, body)
}

// window returns the part of n items a page shows.
func window(n, skip, top int) (lo, hi int, more bool) {
	lo = min(skip, n)
	hi = min(lo+top, n)
	return lo, hi, hi < n
}

// metadataURL is the @odata.context prefix.
func metadataURL(c *call) string {
	return baseURL(c.r) + "/v1.0/$metadata#users('" + url.PathEscape(c.mb.upn) + "')"
}

// itemPage answers a paged GET of items: $select against props, $top/$skip (or a skip token
// when opaque), one page of render(item), and @odata.nextLink while more remain.
func itemPage(c *call, typeName string, props []string, items []StoredItem, render func(StoredItem) map[string]any, entitySet string, opaque bool) {
	sel, ok := parseSelect(c, typeName, props)
	if !ok {
		return
	}
	top, skip, ok := paging(c, opaque)
	if !ok {
		return
	}
	lo, hi, more := window(len(items), skip, top)
	page := make([]map[string]any, 0, hi-lo)
	for _, it := range items[lo:hi] {
		page = append(page, project(render(it), sel))
	}
	writePage(c, metadataURL(c)+"/"+entitySet, page, skip, top, more, opaque)
}
