package mappings

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm/runtime"
)

// ErrBudgetExceeded is an evaluation that produced more than
// Limits.MaxBytes; ErrTimeout one that ran past Limits.Timeout.
var (
	ErrBudgetExceeded = errors.New("evaluation budget exceeded")
	ErrTimeout        = errors.New("evaluation timed out")
)

// meter is one rule evaluation's byte budget and deadline. Every metered
// function call and every loop iteration steps it.
type meter struct {
	ctx      context.Context
	deadline time.Time
	left     int
	steps    uint
}

func newMeter(ctx context.Context, lim Limits) *meter {
	return &meter{ctx: ctx, deadline: time.Now().Add(lim.Timeout), left: lim.MaxBytes}
}

// step checks the deadline and the context every 64 steps.
func (m *meter) step() error {
	m.steps++
	if m.steps&63 != 0 {
		return nil
	}
	return m.check()
}

func (m *meter) check() error {
	if err := m.ctx.Err(); err != nil {
		return err
	}
	if time.Now().After(m.deadline) {
		return ErrTimeout
	}
	return nil
}

// reserve charges n bytes before they are made.
func (m *meter) reserve(n int) error {
	if n < 0 || n > m.left {
		m.left = -1
		return ErrBudgetExceeded
	}
	m.left -= n
	return nil
}

// Names of the functions the compiler inserts; expressions cannot call
// them by name because they need the meter, which expressions cannot name.
const (
	addFunc  = "__add"
	tickFunc = "__tick"
)

var meterType = reflect.TypeOf((*meter)(nil))

// metered lists the functions that take the meter as first argument (the
// compiler passes it); functionOptions registers them.
var metered = map[string]bool{}

var functionOptions []expr.Option

// own registers a function of this package. types are the signatures
// without the meter, which is prepended.
func own(name string, fn func(m *meter, args []any) (any, error), types ...any) {
	ts := make([]reflect.Type, len(types))
	for i, t := range types {
		ts[i] = withMeter(reflect.TypeOf(t).Elem())
	}
	register(&builtin.Function{Name: name, Types: ts, Func: func(params ...any) (any, error) {
		m := params[0].(*meter)
		if err := m.step(); err != nil {
			return nil, err
		}
		return fn(m, params[1:])
	}})
}

func register(f *builtin.Function) {
	metered[f.Name] = true
	functionOptions = append(functionOptions, expr.Option(func(c *conf.Config) {
		c.Functions[f.Name] = f
	}))
	// The same function as written in a mapping, without the meter the
	// compiler passes: what the unpatched check compiles against.
	plain := *f
	plain.Types = nil
	for _, t := range f.Types {
		plain.Types = append(plain.Types, withoutMeter(t))
	}
	if len(f.Types) == 0 {
		plain.Validate = nil
	}
	plainFunctionOptions = append(plainFunctionOptions, expr.Option(func(c *conf.Config) {
		c.Functions[plain.Name] = &plain
	}))
}

// plainFunctionOptions declare the functions without their meter
// parameter (see register).
var plainFunctionOptions []expr.Option

func withoutMeter(t reflect.Type) reflect.Type {
	if t.NumIn() == 0 || t.In(0) != meterType {
		return t
	}
	in := make([]reflect.Type, 0, t.NumIn()-1)
	for i := 1; i < t.NumIn(); i++ {
		in = append(in, t.In(i))
	}
	out := make([]reflect.Type, t.NumOut())
	for i := range out {
		out[i] = t.Out(i)
	}
	return reflect.FuncOf(in, out, t.IsVariadic())
}

func withMeter(t reflect.Type) reflect.Type {
	in := []reflect.Type{meterType}
	for i := 0; i < t.NumIn(); i++ {
		in = append(in, t.In(i))
	}
	out := make([]reflect.Type, t.NumOut())
	for i := range out {
		out[i] = t.Out(i)
	}
	return reflect.FuncOf(in, out, t.IsVariadic())
}

// wrapBuiltin replaces the expr builtin name with the same function
// charging its result to the meter; pre, when set, sizes the result
// before it is made (for functions whose output can be much larger than
// their input).
func wrapBuiltin(name string, pre func(args []any) int) {
	orig := builtin.Builtins[builtin.Index[name]]
	f := &builtin.Function{Name: name}
	switch {
	case orig.Validate != nil:
		f.Validate = func(args []reflect.Type) (reflect.Type, error) {
			if len(args) == 0 || args[0] != meterType {
				return nil, fmt.Errorf("internal: %s called without the meter", name)
			}
			return orig.Validate(args[1:])
		}
	case len(orig.Types) > 0:
		for _, t := range orig.Types {
			f.Types = append(f.Types, withMeter(t))
		}
	default:
		panic("mappings: cannot wrap builtin " + name)
	}
	f.Func = func(params ...any) (any, error) {
		m := params[0].(*meter)
		if err := m.step(); err != nil {
			return nil, err
		}
		args := params[1:]
		for i, a := range args {
			args[i] = deref(a)
		}
		if pre != nil {
			if err := m.reserve(pre(args)); err != nil {
				return nil, err
			}
		}
		var out any
		var err error
		switch {
		case orig.Fast != nil && len(args) == 1:
			out = orig.Fast(args[0])
		case orig.Safe != nil:
			var mem uint
			out, mem, err = orig.Safe(args...)
			if err == nil {
				err = m.reserve(int(mem) * 16)
			}
		default:
			out, err = orig.Func(args...)
		}
		if err != nil {
			return nil, err
		}
		if pre == nil {
			if err := m.reserve(shallowSize(out)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	register(f)
}

func deref(a any) any {
	v := reflect.ValueOf(a)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Type() != meterType {
		return v.Elem().Interface()
	}
	return a
}

// shallowSize is what a value just made costs: its bytes for a string,
// 16 bytes an element for a collection (the elements themselves existed
// before, or were charged when they were made).
func shallowSize(v any) int {
	switch t := v.(type) {
	case nil, bool, int, int64, float64:
		return 0
	case string:
		return len(t)
	case []any:
		return 16 * len(t)
	case []string:
		return 16 * len(t)
	case map[string]any:
		return 32 * len(t)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return 16 * rv.Len()
	case reflect.Map:
		return 32 * rv.Len()
	}
	return 16
}

// deepSize estimates the bytes of v written out (as text or JSON),
// stopping as soon as it passes limit.
func deepSize(v any, limit int) int {
	n := 0
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if n > limit {
			return
		}
		if depth > 10000 {
			n = limit + 1
			return
		}
		switch t := v.(type) {
		case nil:
			n += 4
		case string:
			n += len(t) + 2
		case bool:
			n += 5
		case []any:
			n += 2
			for _, e := range t {
				walk(e, depth+1)
				n++
				if n > limit {
					return
				}
			}
		case map[string]any:
			n += 2
			for k, e := range t {
				n += len(k) + 4
				walk(e, depth+1)
				if n > limit {
					return
				}
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array:
				n += 2
				for i := 0; i < rv.Len() && n <= limit; i++ {
					walk(rv.Index(i).Interface(), depth+1)
					n++
				}
			case reflect.Map:
				n += 2
				it := rv.MapRange()
				for it.Next() && n <= limit {
					walk(it.Key().Interface(), depth+1)
					walk(it.Value().Interface(), depth+1)
					n += 2
				}
			default:
				n += 32
			}
		}
	}
	walk(v, 0)
	return n
}

func argString(fn string, args []any, i int) (string, error) {
	if i >= len(args) {
		return "", fmt.Errorf("%s: missing argument %d", fn, i+1)
	}
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("%s: argument %d must be a string, not %s", fn, i+1, typeName(args[i]))
	}
	return s, nil
}

func argTime(fn string, args []any, i int) (time.Time, error) {
	switch t := args[i].(type) {
	case time.Time:
		return t, nil
	case string:
		p, err := time.Parse(time.RFC3339, strings.TrimSpace(t))
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: argument %d: %q is not an RFC 3339 time", fn, i+1, t)
		}
		return p, nil
	}
	return time.Time{}, fmt.Errorf("%s: argument %d must be a time, not %s", fn, i+1, typeName(args[i]))
}

func argInt(fn string, args []any, i int) (int, error) {
	switch t := args[i].(type) {
	case int:
		return t, nil
	case int64:
		return int(t), nil
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int(t), nil
		}
	}
	return 0, fmt.Errorf("%s: argument %d must be an integer, not %s", fn, i+1, typeName(args[i]))
}

func argFloat(fn string, args []any, i int) (float64, error) {
	switch t := args[i].(type) {
	case int:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case float64:
		return t, nil
	case float32:
		return float64(t), nil
	}
	return 0, fmt.Errorf("%s: argument %d must be a number, not %s", fn, i+1, typeName(args[i]))
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	switch v.(type) {
	case string:
		return "a string"
	case map[string]any:
		return "a map"
	case []any:
		return "an array"
	case bool:
		return "a boolean"
	case int, int64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// timeLayouts are the names parseTime and formatTime accept besides Go
// reference layouts.
var timeLayouts = map[string]string{
	"RFC3339":     time.RFC3339,
	"RFC3339Nano": time.RFC3339Nano,
	"RFC1123":     time.RFC1123,
	"RFC1123Z":    time.RFC1123Z,
	"DateOnly":    time.DateOnly,
	"DateTime":    time.DateTime,
	"TimeOnly":    time.TimeOnly,
}

const maxLayoutLen = 64

func layout(fn, l string) (string, error) {
	if named, ok := timeLayouts[l]; ok {
		return named, nil
	}
	if l == "" || len(l) > maxLayoutLen {
		return "", fmt.Errorf("%s: layout must be 1 to %d characters", fn, maxLayoutLen)
	}
	return l, nil
}

var thousandsRE = regexp.MustCompile(`^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$`)

// parseNumber turns "12.50", " 7 ", "1,234.5" and numbers into a number:
// an int when it has no fraction, otherwise a float. nil and blank
// strings give nil, so `parseNumber(x) ?? 0` supplies a default.
func parseNumber(v any) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case int, int64, float64:
		return normalizeNumber(t), nil
	case bool:
		return nil, fmt.Errorf("parseNumber: a boolean is not a number")
	case string:
		s := strings.TrimSpace(t)
		if s == "" {
			return nil, nil
		}
		if thousandsRE.MatchString(s) {
			s = strings.ReplaceAll(s, ",", "")
		}
		s = strings.TrimPrefix(s, "+")
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return int(i), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpPnN_") {
			return nil, fmt.Errorf("parseNumber: %q is not a number", truncate(t, 40))
		}
		return f, nil
	}
	return nil, fmt.Errorf("parseNumber: %s is not a number", typeName(v))
}

func normalizeNumber(v any) any {
	switch t := v.(type) {
	case int64:
		return int(t)
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int(t)
		}
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func init() {
	// The compiler's own helpers.
	register(&builtin.Function{
		Name: addFunc,
		Types: []reflect.Type{
			reflect.TypeOf(func(*meter, string, string) string { return "" }),
			reflect.TypeOf(func(*meter, any, any) any { return nil }),
		},
		Func: func(params ...any) (any, error) {
			m := params[0].(*meter)
			if err := m.step(); err != nil {
				return nil, err
			}
			a, b := params[1], params[2]
			if sa, ok := a.(string); ok {
				if sb, ok := b.(string); ok {
					if err := m.reserve(len(sa) + len(sb)); err != nil {
						return nil, err
					}
					return sa + sb, nil
				}
			}
			return add(a, b)
		},
	})
	register(&builtin.Function{
		Name: tickFunc,
		Validate: func(args []reflect.Type) (reflect.Type, error) {
			if len(args) != 2 {
				return nil, errors.New("internal: __tick takes two arguments")
			}
			return args[1], nil
		},
		Func: func(params ...any) (any, error) {
			if err := params[0].(*meter).step(); err != nil {
				return nil, err
			}
			return params[1], nil
		},
	})

	// The compiler passes the meter to these itself.
	delete(metered, addFunc)
	delete(metered, tickFunc)

	// expr builtins whose result is charged to the meter.
	for _, name := range []string{
		"upper", "lower", "split", "splitAfter", "fromJSON", "toBase64", "fromBase64",
		"keys", "values", "toPairs", "fromPairs", "uniq", "concat", "flatten", "sort", "reverse", "take",
	} {
		wrapBuiltin(name, nil)
	}
	wrapBuiltin("repeat", func(args []any) int {
		s, _ := args[0].(string)
		n := runtime.ToInt(args[1])
		if n < 0 || (len(s) > 0 && n > math.MaxInt32/len(s)) {
			return -1
		}
		return len(s) * n
	})
	wrapBuiltin("replace", func(args []any) int {
		s, _ := args[0].(string)
		old, _ := args[1].(string)
		repl, _ := args[2].(string)
		count := strings.Count(s, old)
		if len(args) == 4 {
			if n := runtime.ToInt(args[3]); n >= 0 && n < count {
				count = n
			}
		}
		return len(s) + count*max(0, len(repl)-len(old))
	})
	wrapBuiltin("join", func(args []any) int {
		n := 0
		glue := ""
		if len(args) == 2 {
			glue, _ = args[1].(string)
		}
		switch t := args[0].(type) {
		case []any:
			for _, e := range t {
				if s, ok := e.(string); ok {
					n += len(s) + len(glue)
				}
			}
		case []string:
			for _, s := range t {
				n += len(s) + len(glue)
			}
		}
		return n
	})
	// string: as expr's, sized before it is made.
	register(&builtin.Function{
		Name:  "string",
		Types: []reflect.Type{reflect.TypeOf(func(*meter, any) string { return "" })},
		Func: func(params ...any) (any, error) {
			m := params[0].(*meter)
			if err := m.step(); err != nil {
				return nil, err
			}
			switch t := deref(params[1]).(type) {
			case string:
				return t, nil
			case int:
				return strconv.Itoa(t), nil
			case int64:
				return strconv.FormatInt(t, 10), nil
			default:
				if err := m.reserve(deepSize(t, m.left)); err != nil {
					return nil, err
				}
				return fmt.Sprintf("%v", t), nil
			}
		},
	})
	// toJSON: compact (expr's indents, which grows with nesting depth).
	own("toJSON", func(m *meter, args []any) (any, error) {
		if err := m.reserve(deepSize(args[0], m.left) * 2); err != nil {
			return nil, err
		}
		b, err := json.Marshal(args[0])
		if err != nil {
			return nil, fmt.Errorf("toJSON: %w", err)
		}
		return string(b), nil
	}, new(func(any) string))

	// Dates and times.
	own("parseTime", func(m *meter, args []any) (any, error) {
		l, sv := time.RFC3339, 0
		if len(args) == 2 {
			s, err := argString("parseTime", args, 0)
			if err != nil {
				return nil, err
			}
			if l, err = layout("parseTime", s); err != nil {
				return nil, err
			}
			sv = 1
		}
		s, err := argString("parseTime", args, sv)
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(l, strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("parseTime: %q does not match layout %q", truncate(s, 40), l)
		}
		return t, nil
	}, new(func(string) time.Time), new(func(string, string) time.Time))
	own("formatTime", func(m *meter, args []any) (any, error) {
		t, err := argTime("formatTime", args, 0)
		if err != nil {
			return nil, err
		}
		l := time.RFC3339
		if len(args) == 2 {
			s, err := argString("formatTime", args, 1)
			if err != nil {
				return nil, err
			}
			if l, err = layout("formatTime", s); err != nil {
				return nil, err
			}
		}
		if err := m.reserve(4 * len(l)); err != nil {
			return nil, err
		}
		return t.Format(l), nil
	}, new(func(time.Time) string), new(func(time.Time, string) string))
	own("addDays", func(m *meter, args []any) (any, error) {
		t, err := argTime("addDays", args, 0)
		if err != nil {
			return nil, err
		}
		n, err := argInt("addDays", args, 1)
		if err != nil {
			return nil, err
		}
		return t.AddDate(0, 0, n), nil
	}, new(func(time.Time, int) time.Time))
	own("unixMillis", func(m *meter, args []any) (any, error) {
		t, err := argTime("unixMillis", args, 0)
		if err != nil {
			return nil, err
		}
		return int(t.UnixMilli()), nil
	}, new(func(time.Time) int))
	own("fromUnixMillis", func(m *meter, args []any) (any, error) {
		var ms int
		switch t := args[0].(type) {
		case string:
			v, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("fromUnixMillis: %q is not an integer", truncate(t, 40))
			}
			ms = int(v)
		default:
			v, err := argInt("fromUnixMillis", args, 0)
			if err != nil {
				return nil, err
			}
			ms = v
		}
		return time.UnixMilli(int64(ms)).UTC(), nil
	}, new(func(any) time.Time))

	// Numbers.
	own("parseNumber", func(m *meter, args []any) (any, error) {
		return parseNumber(args[0])
	}, new(func(any) any))
	own("round", func(m *meter, args []any) (any, error) {
		x, err := argFloat("round", args, 0)
		if err != nil {
			return nil, err
		}
		places := 0
		if len(args) == 2 {
			if places, err = argInt("round", args, 1); err != nil {
				return nil, err
			}
			if places < 0 || places > 12 {
				return nil, fmt.Errorf("round: places must be 0 to 12, not %d", places)
			}
		}
		p := math.Pow10(places)
		return math.Round(x*p) / p, nil
	}, new(func(float64) float64), new(func(float64, int) float64))

	// Hashing.
	own("sha256hex", func(m *meter, args []any) (any, error) {
		s, err := argString("sha256hex", args, 0)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:]), nil
	}, new(func(string) string))
}

// add is the VM's + for what is not two strings, as an error instead of a
// panic.
func add(a, b any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return runtime.Add(a, b), nil
}
