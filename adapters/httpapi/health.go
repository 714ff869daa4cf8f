package httpapi

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

type healthView struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// healthz answers 200 while the process serves: liveness only.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, healthView{Status: "ok", Version: s.cfg.Version})
}

type readyView struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz pings every backing service at once and answers 503 naming the
// ones that failed or did not answer within readinessTimeout. The causes
// are logged, not answered: they may hold addresses.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readinessTimeout)
	defer cancel()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []string
		checks = map[string]string{}
	)
	for name, p := range s.cfg.Readiness {
		wg.Go(func() {
			err := p.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, name)
				checks[name] = "failed"
				s.log.Warn("readiness check failed", "request_id", requestID(c), "check", name, "error", err.Error())
				return
			}
			checks[name] = "ok"
		})
	}
	wg.Wait()
	if len(failed) == 0 {
		return c.JSON(http.StatusOK, readyView{Status: "ready", Checks: checks})
	}
	sort.Strings(failed)
	p := problemFor(badRequest(errNotReady, "", "not ready: "+strings.Join(failed, ", ")))
	for _, name := range failed {
		p.Errors = append(p.Errors, ProblemError{Field: name, Detail: name + " did not answer"})
	}
	writeProblem(c, p)
	return nil
}
