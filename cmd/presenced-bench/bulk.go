//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// bulkScenario times POST /v1/presence/bulk reads of many users. The users
// are online (a session each) and are given an activity and a custom status
// first through the HTTP API, so each read returns full presences.
type bulkScenario struct {
	users       int
	requests    int
	concurrency int
	warmup      int
}

func (s *bulkScenario) register(fs *flag.FlagSet) {
	fs.IntVar(&s.users, "users", 1000, "users per read (the server allows at most 1,000)")
	fs.IntVar(&s.requests, "requests", 1000, "timed reads")
	fs.IntVar(&s.concurrency, "concurrency", 1, "reads in flight at once")
	fs.IntVar(&s.warmup, "warmup", 100, "untimed reads first")
}

func (s *bulkScenario) run(ctx context.Context, e *env) (*report, error) {
	r := newReport("bulk", e.runID)
	r.param("users", s.users)
	r.param("requests", s.requests)
	r.param("concurrency", s.concurrency)
	if s.users < 1 || s.requests < 1 || s.requests > 1000000 || s.warmup < 0 || s.concurrency < 1 || s.concurrency > 64 {
		return nil, fmt.Errorf("--users must be positive, --requests 1–1,000,000, --concurrency 1–64")
	}
	base := strings.TrimSuffix(strings.Replace(e.URL, "ws://", "http://", 1), "/")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	ids := make([]string, s.users)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", e.prefix("b"), i)
	}
	if _, _, err := e.population(ctx, "b", s.users, openArgs{Session: true}); err != nil {
		return nil, err
	}
	if err := s.seed(ctx, hc, base, e.APIKey, ids); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{"user_ids": ids})
	read := func() (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/presence/bulk", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+e.APIKey)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK || n < int64(s.users)*50 {
			return 0, fmt.Errorf("bulk read: HTTP %d, %d bytes", resp.StatusCode, n)
		}
		return d, nil
	}
	if err := s.checkOne(ctx, hc, base, e.APIKey, body); err != nil {
		return nil, err
	}
	for range s.warmup {
		if _, err := read(); err != nil {
			return nil, err
		}
	}
	lat := make([]float64, 0, s.requests)
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range s.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				d, err := read()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				} else if err == nil {
					lat = append(lat, ms(d))
				}
				mu.Unlock()
			}
		}()
	}
	for range s.requests {
		if ctx.Err() != nil {
			break
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		r.note("failed reads: first error: %v", firstErr)
	}
	floor, err := s.healthz(ctx, hc, base)
	if err != nil {
		return nil, err
	}
	r.add("reads", len(lat), "")
	r.add("reads_per_sec", float64(len(lat))/elapsed.Seconds(), "1/s")
	r.add("p50", percentile(lat, 50), "ms")
	r.add("p99", percentile(lat, 99), "ms")
	r.add("max", percentile(lat, 100), "ms")
	r.add("healthz_p50", percentile(floor, 50), "ms")
	r.add("healthz_p99", percentile(floor, 99), "ms")
	if s.users >= 1000 {
		r.check("bulk read of 1,000 users, p99", percentile(lat, 99), "<=", 5, "ms")
	}
	return r, nil
}

// seed sets a status and custom status on every user.
func (s *bulkScenario) seed(ctx context.Context, hc *http.Client, base, key string, ids []string) error {
	body := []byte(`{"custom_status":"In a benchmark","custom_emoji":"⏱","activity":"focus"}`)
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(ids))
	for _, id := range ids {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v1/presence/"+id+"/status", bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Authorization", "Bearer "+key)
				var resp *http.Response
				if resp, err = hc.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("PUT status of %s: HTTP %d (is --api-key right?)", id, resp.StatusCode)
					}
				}
			}
			errs <- err
		}()
	}
	var first error
	for range ids {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// checkOne reads once and checks that every user came back with what seed
// set, so the timed reads measure real work.
func (s *bulkScenario) checkOne(ctx context.Context, hc *http.Client, base, key string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/presence/bulk", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Presences map[string]struct {
			Status       string `json:"status"`
			CustomStatus string `json:"custom_status"`
		} `json:"presences"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("bulk read: HTTP %d: %w", resp.StatusCode, err)
	}
	if len(out.Presences) != s.users {
		return fmt.Errorf("bulk read returned %d presences, want %d", len(out.Presences), s.users)
	}
	for id, p := range out.Presences {
		if p.Status != "online" || p.CustomStatus == "" {
			return fmt.Errorf("bulk read: %s is %+v, want online with a custom status", id, p)
		}
	}
	return nil
}

// healthz times as many GET /healthz as there were reads: the latency of
// a request that does no work, the floor the machine puts under every read.
func (s *bulkScenario) healthz(ctx context.Context, hc *http.Client, base string) ([]float64, error) {
	lat := make([]float64, 0, s.requests)
	for range s.requests {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, ms(time.Since(start)))
	}
	return lat, nil
}
