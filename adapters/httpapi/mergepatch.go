package httpapi

// mergePatch applies an RFC 7396 JSON Merge Patch to a decoded JSON
// document: objects merge recursively, null removes a member, anything
// else replaces. target is modified in place where it is an object.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
