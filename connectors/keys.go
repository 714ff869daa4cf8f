package connectors

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/passhub/passhub/core"
	"github.com/passhub/passhub/mappings"
)

// Limits of a generic connector's topicExpr and dedupeExpr.
const (
	// MaxTopicLen and MaxDedupeKeyLen bound what an expression may yield.
	MaxTopicLen     = 200
	MaxDedupeKeyLen = 500
	// MaxKeyExprLen bounds an expression's source.
	MaxKeyExprLen = 1000
	// KeyStringLimit is the longest string the key functions (and +) take
	// or make. A key is short: this keeps every evaluation small, whatever
	// the payload, without a per-evaluation meter.
	KeyStringLimit = 4096

	keyExprMaxNodes = 200
	// keyExprMemory is the expr VM's memory budget (about one unit per
	// array element, range item or loop iteration).
	keyExprMemory = 10_000
)

// KeyError is a delivery whose topic or dedupe key could not be made from
// the connector's expression: the expression failed, or yielded nothing
// usable. Nothing of the delivery was stored. It is the sender's (or the
// connector's author's) fault, not the server's: answer 400 naming Field.
type KeyError struct {
	// Field is "config.topicExpr" or "config.dedupeExpr".
	Field  string
	Reason string
}

func (e *KeyError) Error() string { return e.Field + " " + e.Reason }

// keyEnv is what a key expression sees: the verified delivery's decoded
// JSON body and its headers, keys lower-cased (the same names as in
// mapping files).
type keyEnv struct {
	Payload any               `expr:"payload"`
	Headers map[string]string `expr:"headers"`
}

// keyExpr is one compiled topicExpr or dedupeExpr.
type keyExpr struct {
	field string
	max   int
	prog  *vm.Program
}

// keyExprs are a connector's compiled expressions (nil when not set),
// cached by connector ID and UpdatedAt.
type keyExprs struct {
	updatedAt      time.Time
	topic, dedupe  *keyExpr
	excludedHeader string
}

// compileKeys compiles a generic connector's expressions, naming the
// offending config field.
func compileKeys(cfg Config) (*keyExprs, error) {
	k := &keyExprs{excludedHeader: authHeader(cfg)}
	var err error
	if k.topic, err = compileKey("config.topicExpr", cfg.TopicExpr, MaxTopicLen); err != nil {
		return nil, err
	}
	if k.dedupe, err = compileKey("config.dedupeExpr", cfg.DedupeExpr, MaxDedupeKeyLen); err != nil {
		return nil, err
	}
	return k, nil
}

// keptKeyBuiltins are the expr builtins key expressions may call: none of
// them makes a string or collection much larger than its input. The loops
// (map, filter, find, ...) are bounded by the VM's memory budget.
var keptKeyBuiltins = []string{
	"len", "abs", "ceil", "floor", "max", "min", "int", "float", "type",
	"trim", "trimPrefix", "trimSuffix", "hasPrefix", "hasSuffix", "indexOf", "lastIndexOf",
	"first", "last", "get",
	"all", "any", "none", "one", "filter", "map", "find", "findIndex", "findLast", "findLastIndex", "count",
}

func compileKey(field, src string, max int) (*keyExpr, error) {
	if src == "" {
		return nil, nil
	}
	if strings.TrimSpace(src) == "" {
		return nil, core.Invalid(field, "is blank; leave it out instead")
	}
	if len(src) > MaxKeyExprLen {
		return nil, core.Invalid(field, "is longer than %d bytes", MaxKeyExprLen)
	}
	g := &keyGuard{}
	var prog *vm.Program
	opts := []expr.Option{
		expr.Env(keyEnv{}),
		expr.MaxNodes(keyExprMaxNodes),
		expr.DisableAllBuiltins(),
	}
	for _, name := range keptKeyBuiltins {
		opts = append(opts, expr.EnableBuiltin(name))
	}
	opts = append(opts, keyFunctions...)
	// A first compile without patches: with them, expr skips checking the
	// arguments of a call typed in an earlier pass, so upper(nosuch) would
	// compile and fail only at delivery.
	_, err := mappings.CompileSafely(src, opts)
	if err == nil {
		// The guard runs first, on the source as written; then + is
		// routed through the bounded concatenation.
		opts = append(opts, expr.Patch(g), expr.Patch(boundedConcat{}))
		prog, err = mappings.CompileSafely(src, opts)
		if g.err != nil {
			err = g.err.Bind(file.NewSource(src))
		}
	}
	if err != nil {
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fe.Message
			if fe.Line > 0 {
				msg = fmt.Sprintf("%s (line %d, column %d)", msg, fe.Line, fe.Column+1)
			}
		}
		return nil, core.Invalid(field, "does not compile: %s", msg)
	}
	if t := prog.Node().Type(); t != nil && !mappings.KeyType(t) {
		return nil, core.Invalid(field, "must yield a string or an integer, not %s", t)
	}
	return &keyExpr{field: field, max: max, prog: prog}, nil
}

// keyGuard refuses what key expressions may not do, as mapping files
// refuse it: name $env or the compiler's helpers (__…), call methods, or
// match against a pattern that is not a constant.
type keyGuard struct{ err *file.Error }

func (g *keyGuard) Visit(node *ast.Node) {
	if g.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if strings.HasPrefix(n.Value, "__") || n.Value == "$env" {
			g.fail(n, "unknown name %s", n.Value)
		}
	case *ast.CallNode:
		if _, ok := n.Callee.(*ast.MemberNode); ok {
			g.fail(n, "method calls are not allowed")
		}
	case *ast.BinaryNode:
		if n.Operator == "matches" {
			if _, ok := n.Right.(*ast.StringNode); !ok {
				g.fail(n, "matches needs a constant pattern (a string literal)")
			}
		}
	}
}

func (g *keyGuard) fail(n ast.Node, format string, args ...any) {
	g.err = &file.Error{Location: n.Location(), Message: fmt.Sprintf(format, args...)}
}

const concatFunc = "__concat"

// boundedConcat routes every + that may join strings through __concat,
// which refuses results longer than KeyStringLimit (a chain of
// self-concatenations would otherwise double a string per step).
type boundedConcat struct{}

func (boundedConcat) Visit(node *ast.Node) {
	bin, ok := (*node).(*ast.BinaryNode)
	if !ok || bin.Operator != "+" || !mayBeString(bin.Left.Type()) || !mayBeString(bin.Right.Type()) {
		return
	}
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: concatFunc},
		Arguments: []ast.Node{bin.Left, bin.Right},
	})
}

func mayBeString(t reflect.Type) bool {
	return t == nil || t.Kind() == reflect.Interface || t.Kind() == reflect.String
}

// keyFunctions are passhub's functions for key expressions: the names and
// meaning of the mapping functions (mappings/FUNCTIONS.md), each taking
// and making strings of at most KeyStringLimit bytes.
var keyFunctions = []expr.Option{
	expr.Function(concatFunc, func(p ...any) (any, error) {
		if a, ok := p[0].(string); ok {
			if b, ok := p[1].(string); ok {
				if len(a)+len(b) > KeyStringLimit {
					return nil, fmt.Errorf("+: the string would be longer than %d bytes", KeyStringLimit)
				}
				return a + b, nil
			}
		}
		return addValues(p[0], p[1])
	}, new(func(string, string) string), new(func(any, any) any)),
	stringFunc("upper", strings.ToUpper),
	stringFunc("lower", strings.ToLower),
	stringFunc("sha256hex", func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}),
	expr.Function("split", func(p ...any) (any, error) {
		s, err := keyString("split", p[0])
		if err != nil {
			return nil, err
		}
		return strings.Split(s, p[1].(string)), nil
	}, new(func(string, string) []string)),
	expr.Function("replace", func(p ...any) (any, error) {
		s, err := keyString("replace", p[0])
		if err != nil {
			return nil, err
		}
		old, repl := p[1].(string), p[2].(string)
		// Sized before it is made: replace(s, "", x) puts x between every byte.
		if n := len(s) + (strings.Count(s, old) * (len(repl) - len(old))); n > KeyStringLimit {
			return nil, fmt.Errorf("replace: the result would be longer than %d bytes", KeyStringLimit)
		}
		return strings.ReplaceAll(s, old, repl), nil
	}, new(func(string, string, string) string)),
	expr.Function("join", func(p ...any) (any, error) {
		sep := ""
		if len(p) == 2 {
			sep = p[1].(string)
		}
		var parts []string
		switch l := p[0].(type) {
		case []string:
			parts = l
		case []any:
			parts = make([]string, 0, len(l))
			for _, e := range l {
				s, err := scalarString("join", e)
				if err != nil {
					return nil, err
				}
				parts = append(parts, s)
			}
		default:
			return nil, fmt.Errorf("join: the first argument must be an array, not %s", typeOf(p[0]))
		}
		n := 0
		for _, s := range parts {
			if n += len(s) + len(sep); n > KeyStringLimit+len(sep) {
				return nil, fmt.Errorf("join: the result would be longer than %d bytes", KeyStringLimit)
			}
		}
		return strings.Join(parts, sep), nil
	}, new(func(any, string) string), new(func(any) string)),
	expr.Function("string", func(p ...any) (any, error) {
		return scalarString("string", p[0])
	}, new(func(any) string)),
}

// stringFunc is a string-to-string key function.
func stringFunc(name string, fn func(string) string) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		s, err := keyString(name, p[0])
		if err != nil {
			return nil, err
		}
		return fn(s), nil
	}, new(func(string) string))
}

func keyString(fn string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: the argument must be a string, not %s", fn, typeOf(v))
	}
	if len(s) > KeyStringLimit {
		return "", fmt.Errorf("%s: the string is longer than %d bytes", fn, KeyStringLimit)
	}
	return s, nil
}

// scalarString writes a string, number or boolean as text; integers (and
// floats without a fraction) in decimal, so 64-bit IDs keep every digit.
func scalarString(fn string, v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return "", fmt.Errorf("%s: %v is not a number to write", fn, t)
		}
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(t), nil
	case nil:
		return "", fmt.Errorf("%s: the value is nil", fn)
	}
	return "", fmt.Errorf("%s: %s is not a string, number or boolean; pick a field of it", fn, typeOf(v))
}

// addValues is expr's + for what is not two strings (numbers, times);
// its panics on mismatched types become errors.
func addValues(a, b any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("+: %v", r)
		}
	}()
	return runtime.Add(a, b), nil
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "a string"
	case int, int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any, []string:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// authHeader is the header carrying a generic connector's signature or API
// key: key expressions do not see it (nor Authorization or Cookie), so no
// expression can copy a credential into a stored trigger.
func authHeader(cfg Config) string {
	switch cfg.Scheme {
	case SchemeStandardWebhooks:
		return "webhook-signature"
	case SchemeAPIKey:
		if cfg.Header != "" {
			return strings.ToLower(cfg.Header)
		}
		return "x-api-key"
	}
	if cfg.Header != "" {
		return strings.ToLower(cfg.Header)
	}
	return "x-signature"
}

// exprHeaders are the verified request's headers as key expressions see
// them: keys lower-cased, repeated values joined with ", ".
func exprHeaders(h http.Header, excluded string) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		switch k {
		case excluded, "authorization", "proxy-authorization", "cookie":
			continue
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// eval runs a key expression and makes its result a key: a non-blank
// string, or an integer in decimal, at most e.max bytes.
func (e *keyExpr) eval(env keyEnv) (string, error) {
	machine := vm.VM{MemoryBudget: keyExprMemory}
	out, err := runKey(&machine, e.prog, env)
	if err != nil {
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			// The message and position, without the source excerpt.
			msg = fmt.Sprintf("%s (line %d, column %d)", fe.Message, fe.Line, fe.Column+1)
		}
		return "", &KeyError{Field: e.field, Reason: "failed: " + msg}
	}
	var s string
	switch t := out.(type) {
	case nil:
		return "", &KeyError{Field: e.field, Reason: "yielded nil; the payload lacks what the expression reads"}
	case string:
		s = t
	case int:
		s = strconv.Itoa(t)
	case int64:
		s = strconv.FormatInt(t, 10)
	case float64:
		if t != math.Trunc(t) || math.Abs(t) >= 1<<53 {
			return "", &KeyError{Field: e.field, Reason: fmt.Sprintf("yielded the number %v, not an integer; wrap it in string(...)", t)}
		}
		s = strconv.FormatInt(int64(t), 10)
	default:
		return "", &KeyError{Field: e.field, Reason: "yielded " + typeOf(out) + ", not a string or an integer"}
	}
	if strings.TrimSpace(s) == "" {
		return "", &KeyError{Field: e.field, Reason: "yielded an empty string"}
	}
	if len(s) > e.max {
		return "", &KeyError{Field: e.field, Reason: fmt.Sprintf("yielded %d bytes, more than %d", len(s), e.max)}
	}
	return s, nil
}

// runKey runs prog, turning a VM panic (the memory budget) into an error.
func runKey(machine *vm.VM, prog *vm.Program, env keyEnv) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return machine.Run(prog, env)
}

// keys makes the topic and dedupe key of one event whose verifier left
// them empty (no header configured, or absent).
func (k *keyExprs) keys(payload []byte, header http.Header, topic, dedupe *string) error {
	if (k.topic == nil || *topic != "") && (k.dedupe == nil || *dedupe != "") {
		return nil
	}
	decoded, err := mappings.DecodePayload(payload)
	if err != nil {
		field := "config.topicExpr"
		if k.topic == nil || *topic != "" {
			field = "config.dedupeExpr"
		}
		return &KeyError{Field: field, Reason: "cannot read the payload: " + err.Error()}
	}
	env := keyEnv{Payload: decoded, Headers: exprHeaders(header, k.excludedHeader)}
	if k.topic != nil && *topic == "" {
		if *topic, err = k.topic.eval(env); err != nil {
			return err
		}
	}
	if k.dedupe != nil && *dedupe == "" {
		if *dedupe, err = k.dedupe.eval(env); err != nil {
			return err
		}
	}
	return nil
}

// keyCache holds compiled key expressions per connector, so a delivery
// does not compile them again; an entry is stale once the connector's
// UpdatedAt moves.
type keyCache struct {
	mu sync.Mutex
	m  map[string]*keyExprs
}

func (c *keyCache) get(con core.Connector, cfg Config) (*keyExprs, error) {
	c.mu.Lock()
	k, ok := c.m[con.ID]
	c.mu.Unlock()
	if ok && k.updatedAt.Equal(con.UpdatedAt) {
		return k, nil
	}
	k, err := compileKeys(cfg)
	if err != nil {
		// Validated when stored: this is a server fault (a change of the
		// language since), not the sender's.
		return nil, fmt.Errorf("compiling the key expressions of connector %s: %v", con.ID, err)
	}
	k.updatedAt = con.UpdatedAt
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*keyExprs{}
	}
	c.m[con.ID] = k
	c.mu.Unlock()
	return k, nil
}

func (c *keyCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
