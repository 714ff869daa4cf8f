package mappings

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// env is what every expression sees. Field names are the expression names.
type env struct {
	Payload    any               `expr:"payload"`
	Headers    map[string]string `expr:"headers"`
	Topic      string            `expr:"topic"`
	Source     string            `expr:"source"`
	ReceivedAt time.Time         `expr:"receivedAt"`
	Now        time.Time         `expr:"now"`
	Pass       *PassView         `expr:"pass"`
	// Meter is the evaluation's budget and deadline. Expressions cannot
	// name it: the compiler passes it to the functions that need it.
	Meter *meter `expr:"__meter"`
}

const meterName = "__meter"

// PassView is the current pass as expressions see it (nil when there is
// none, or when it is deleted).
type PassView struct {
	ID           string         `expr:"id" json:"id"`
	ExternalID   string         `expr:"externalId" json:"externalId"`
	Data         map[string]any `expr:"data" json:"data"`
	Lifecycle    string         `expr:"lifecycle" json:"lifecycle"`
	Version      int            `expr:"version" json:"version"`
	WalletStatus string         `expr:"walletStatus" json:"walletStatus"`
}

// What an expression must evaluate to.
type resultKind int

const (
	kindAny resultKind = iota
	kindBool
	kindString
	kindExternalID // a string or an integer
)

// expression is one compiled expression of a rule.
type expression struct {
	field string // "when", "externalId", "fields.points", "message"
	key   string // the data key, for fields
	src   string
	line  int
	kind  resultKind
	prog  *vm.Program
	// readsPass: the value is derived from the current pass (points + 10),
	// so it is always written; otherwise it is the event's own and a stale
	// event does not overwrite a newer value (core.SourceChange.Latest).
	readsPass bool
}

// disabledBuiltins are expr builtins mappings cannot call: date and
// timezone read the time zone database (files, and the ZONEINFO
// environment variable); now is the `now` variable here, fixed for the
// whole evaluation.
var disabledBuiltins = []string{"date", "timezone", "now"}

// compileOptions are the options every expression is compiled with; the
// expected-type option comes on top. A nil guard leaves out the patches.
func (l *loader) compileOptions(g *guard) []expr.Option {
	opts := []expr.Option{
		expr.Env(env{}),
		expr.MaxNodes(l.limits.MaxNodes),
		expr.Optimize(true),
	}
	for _, name := range disabledBuiltins {
		opts = append(opts, expr.DisableBuiltin(name))
	}
	if g == nil {
		return append(opts, plainFunctionOptions...)
	}
	opts = append(opts, functionOptions...)
	// Visitors run in order, each after a type check: refuse what is not
	// allowed, pass the meter to metered functions, then route string
	// concatenation and every loop iteration through the meter.
	opts = append(opts,
		expr.Patch(g),
		expr.Patch(injectMeter{}),
		expr.Patch(meterConcat{}),
		expr.Patch(meterLoops{}),
	)
	return opts
}

func (l *loader) expr(v *yaml.Node, rule, field string, kind resultKind) *expression {
	if v.Kind != yaml.ScalarNode {
		l.add(v.Line, rule, field, "must be an expression (a string), not %s", kindName(v))
		return nil
	}
	if v.Tag == "!!null" {
		l.add(v.Line, rule, field, "expression is empty (write nil for a null value)")
		return nil
	}
	src := v.Value
	if strings.TrimSpace(src) == "" {
		l.add(v.Line, rule, field, "expression is empty")
		return nil
	}
	e := &expression{field: field, src: src, line: v.Line, kind: kind}
	// Block scalars (| and >) start on the line after the indicator.
	startsBelow := v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	g := &guard{}
	// First without the patches: with them, expr skips checking the
	// arguments of a call it typed in an earlier pass, so upper(nosuch)
	// would load and fail only when a trigger arrives.
	plain := append(l.compileOptions(nil), kindOptions(kind)...)
	opts := append(l.compileOptions(g), kindOptions(kind)...)
	_, err := CompileSafely(src, plain)
	var prog *vm.Program
	if err == nil {
		prog, err = CompileSafely(src, opts)
	}
	if g.err != nil {
		// What the guard refuses explains more than the type error it causes.
		err = g.err.Bind(file.NewSource(src))
	}
	if err != nil {
		line, msg := v.Line, err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fe.Message
			if fe.Line > 0 {
				line += fe.Line - 1
				if startsBelow {
					line++
				}
				if fe.Column > 0 || fe.Line > 1 {
					msg = fmt.Sprintf("%s (column %d)", msg, fe.Column+1)
				}
			}
		}
		l.add(line, rule, field, "%s", msg)
		return nil
	}
	if kind == kindExternalID {
		if t := prog.Node().Type(); t != nil && !KeyType(t) {
			l.add(v.Line, rule, field, "must be a string, not %s; wrap it in string(...)", t)
			return nil
		}
	}
	e.prog = prog
	e.readsPass = g.readsPass
	return e
}

// kindOptions are the compile options checking an expression's result.
func kindOptions(kind resultKind) []expr.Option {
	switch kind {
	case kindBool:
		return []expr.Option{expr.AsBool()}
	case kindString:
		return []expr.Option{expr.AsKind(reflect.String)}
	}
	return nil
}

// CompileSafely compiles an expr expression, turning a compiler panic
// into an error (a hostile input must not take the process down).
func CompileSafely(src string, opts []expr.Option) (p *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("cannot compile: %v", r)
		}
	}()
	return expr.Compile(src, opts...)
}

// KeyType reports whether an expression of static type t can give a key
// (a string, or a number written as an integer): interface types may.
func KeyType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Interface,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// guard refuses, at load, what expressions may not do: name the meter,
// the compiler's helpers (every name starting with __) or $env, call methods (time.Time.Format and the like allocate outside the
// budget), or match against a pattern that is not a constant (compiling a
// regular expression per evaluation is unbounded work).
type guard struct {
	err       *file.Error
	readsPass bool
}

func (g *guard) Visit(node *ast.Node) {
	if g.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if strings.HasPrefix(n.Value, "__") || n.Value == "$env" {
			g.fail(n, "unknown name %s", n.Value)
		}
		if n.Value == "pass" {
			g.readsPass = true
		}
	case *ast.CallNode:
		if _, ok := n.Callee.(*ast.MemberNode); ok {
			g.fail(n, "method calls are not allowed; use the functions in FUNCTIONS.md")
		}
	case *ast.BinaryNode:
		if n.Operator == "matches" {
			if _, ok := n.Right.(*ast.StringNode); !ok {
				g.fail(n, "matches needs a constant pattern (a string literal)")
			}
		}
	}
}

func (g *guard) fail(n ast.Node, format string, args ...any) {
	g.err = &file.Error{Location: n.Location(), Message: fmt.Sprintf(format, args...)}
}

func meterIdent() ast.Node { return &ast.IdentifierNode{Value: meterName} }

// injectMeter passes the meter as first argument to every metered
// function call.
type injectMeter struct{}

func (injectMeter) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || !metered[id.Value] {
		return
	}
	if len(call.Arguments) > 0 {
		if first, ok := call.Arguments[0].(*ast.IdentifierNode); ok && first.Value == meterName {
			return
		}
	}
	call.Arguments = append([]ast.Node{meterIdent()}, call.Arguments...)
}

// meterConcat routes every + that may join strings (string or unknown on
// both sides) through __add, which charges the result to the meter.
// Numbers, times and durations keep the VM's own + (they cannot grow).
type meterConcat struct{}

func (meterConcat) Visit(node *ast.Node) {
	bin, ok := (*node).(*ast.BinaryNode)
	if !ok || bin.Operator != "+" {
		return
	}
	if !mayBeString(bin.Left.Type()) || !mayBeString(bin.Right.Type()) {
		return
	}
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: addFunc},
		Arguments: []ast.Node{meterIdent(), bin.Left, bin.Right},
	})
}

func mayBeString(t reflect.Type) bool {
	return t == nil || t.Kind() == reflect.Interface || t.Kind() == reflect.String
}

// meterLoops wraps the body of every predicate (the {...} of map, filter,
// all, reduce, ...) in __tick, so each iteration checks the deadline.
type meterLoops struct{}

func (meterLoops) Visit(node *ast.Node) {
	p, ok := (*node).(*ast.PredicateNode)
	if !ok {
		return
	}
	if c, ok := p.Node.(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == tickFunc {
			return
		}
	}
	body := p.Node
	p.Node = &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: tickFunc},
		Arguments: []ast.Node{meterIdent(), body},
	}
	p.Node.SetLocation(body.Location())
}
