package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/mitai-dev/mitai/coordinator/state"
	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/internal/coordclient"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// jobFile is the YAML form of a job spec (mitai job submit -f).
type jobFile struct {
	Kind           string   `yaml:"kind"`
	Participants   []string `yaml:"participants"`
	Receivers      []string `yaml:"receivers"`
	IdempotencyKey string   `yaml:"idempotency_key"`
	PSI            struct {
		Mode    string   `yaml:"mode"`
		Group   string   `yaml:"group"`
		Columns []string `yaml:"columns"`
		Dedupe  bool     `yaml:"dedupe"`
	} `yaml:"psi"`
	Keygen struct {
		Preset    string `yaml:"preset"`
		Threshold uint32 `yaml:"threshold"`
	} `yaml:"keygen"`
	Score struct {
		Alignment    string    `yaml:"alignment"`
		KeySet       string    `yaml:"key_set"`
		Model        string    `yaml:"model"`
		Clamp        bool      `yaml:"clamp"`
		Probability  string    `yaml:"probability"`
		PDO          float64   `yaml:"pdo"`
		Base         float64   `yaml:"base"`
		Odds         float64   `yaml:"odds"`
		Bands        []float64 `yaml:"bands"`
		SigmoidBound float64   `yaml:"sigmoid_bound"`
	} `yaml:"score"`
}

// spec builds the job spec. Receivers default to what the kind implies:
// every participant for mpsi and keygen, the first for score.
func (j jobFile) spec() (*mitaiv1.JobSpec, error) {
	spec := &mitaiv1.JobSpec{Kind: j.Kind, Participants: j.Participants, Receivers: j.Receivers, IdempotencyKey: j.IdempotencyKey}
	if len(spec.Receivers) == 0 && len(j.Participants) > 0 {
		switch j.Kind {
		case "mpsi", "keygen":
			for _, p := range j.Participants {
				party, _, _ := strings.Cut(p, ":")
				spec.Receivers = append(spec.Receivers, party)
			}
		case "score":
			party, _, _ := strings.Cut(j.Participants[0], ":")
			spec.Receivers = []string{party}
		}
	}
	switch j.Kind {
	case "psi", "mpsi":
		mode, err := psi.ParseMode(j.PSI.Mode)
		if err != nil {
			return nil, err
		}
		spec.Psi = &mitaiv1.PsiParams{Mode: mode.Proto(), Group: j.PSI.Group, Columns: j.PSI.Columns, Dedupe: j.PSI.Dedupe}
	case "keygen":
		spec.Keygen = &mitaiv1.KeygenParams{Preset: j.Keygen.Preset, Threshold: j.Keygen.Threshold}
	case "score":
		s := j.Score
		spec.Score = &mitaiv1.ScoreParams{Alignment: s.Alignment, KeySet: s.KeySet, Model: s.Model, Clamp: s.Clamp,
			Probability: s.Probability, Pdo: s.PDO, Base: s.Base, Odds: s.Odds, Bands: s.Bands, SigmoidBound: s.SigmoidBound}
	default:
		return nil, fmt.Errorf("job kind %q: want psi, mpsi, keygen or score", j.Kind)
	}
	return spec, nil
}

// coordinatorJobCmds are the job commands that go through the coordinator.
func coordinatorJobCmds() []*cobra.Command {
	var sf coordFlags
	var file string
	var jf jobFile
	submit := &cobra.Command{
		Use:   "submit (-f job.yaml | --participant party:dataset ... --receivers party [--mode join --columns a,b])",
		Short: "Submit a job to the coordinator (retries are deduplicated by the idempotency key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				dec := yaml.NewDecoder(strings.NewReader(string(b)))
				dec.KnownFields(true)
				if err := dec.Decode(&jf); err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
			}
			if jf.IdempotencyKey == "" {
				jf.IdempotencyKey = randomKey()
			}
			spec, err := jf.spec()
			if err != nil {
				return err
			}
			c, err := sf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var resp *mitaiv1.SubmitJobResponse
			err = c.Call(cmd.Context(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
				resp, err = cl.SubmitJob(ctx, &mitaiv1.SubmitJobRequest{Spec: spec})
				return err
			})
			if err != nil {
				return err
			}
			note := ""
			if resp.Duplicate {
				note = " (already submitted with this idempotency key)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %s: %s%s\n", resp.Job.Id, stateName(resp.Job.State), note)
			if len(resp.Job.PendingApprovals) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "  waiting for approval by: %s\n", strings.Join(resp.Job.PendingApprovals, ", "))
			}
			return nil
		},
	}
	sf.register(submit)
	f := submit.Flags()
	f.StringVarP(&file, "file", "f", "", "job spec file (YAML)")
	f.StringVar(&jf.Kind, "kind", "psi", "job kind: psi, mpsi (k-party alignment), keygen or score")
	f.StringSliceVar(&jf.Participants, "participant", nil, "party:dataset, once per party (the first party's node initiates: the mpsi hub, the score receiver)")
	f.StringSliceVar(&jf.Receivers, "receivers", nil, "parties that receive the result (default for mpsi and keygen: all; for score: the first)")
	f.StringVar(&jf.Keygen.Preset, "preset", "", "keygen: crypto/he parameter preset: "+presetNames()+" (default "+he.DefaultPreset+")")
	f.Uint32Var(&jf.Keygen.Threshold, "threshold", 0, "keygen: parties needed to decrypt (0: all)")
	f.StringVar(&jf.Score.Alignment, "alignment", "", "score: the mpsi job that aligned the rows")
	f.StringVar(&jf.Score.KeySet, "key-set", "", "score: the key set id (or the keygen job's id)")
	f.StringVar(&jf.Score.Model, "model", "", "score: model name; each node reads models/NAME.json from its data folder")
	f.BoolVar(&jf.Score.Clamp, "clamp", false, "score: clamp out-of-range feature values instead of failing")
	f.StringVar(&jf.Score.Probability, "probability", "", "score: plain (default), none or encrypted")
	f.Float64SliceVar(&jf.Score.Bands, "bands", nil, "score: band cut points in points, ascending")
	f.StringVar(&jf.PSI.Mode, "mode", "intersection", "psi mode: intersection, cardinality or join")
	f.StringSliceVar(&jf.PSI.Columns, "columns", nil, "join: the sender's columns to receive")
	f.StringVar(&jf.PSI.Group, "group", "", "group for the blinding")
	f.BoolVar(&jf.PSI.Dedupe, "dedupe", false, "keep the first row of each duplicated key")
	f.StringVar(&jf.IdempotencyKey, "idempotency-key", "", "key that makes retries safe (default: random per invocation)")

	var gf coordFlags
	var consistent bool
	status := &cobra.Command{
		Use:   "status JOB",
		Short: "Show a job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := gf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := getJob(cmd.Context(), c, args[0], consistent)
			if err != nil {
				return err
			}
			printJob(cmd.OutOrStdout(), resp)
			return nil
		},
	}
	gf.register(status)
	status.Flags().BoolVar(&consistent, "consistent", true, "read through the leader (false: any replica, possibly stale)")

	var wf coordFlags
	watch := &cobra.Command{
		Use:   "watch JOB",
		Short: "Print a job's state whenever it changes, until it ends",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := wf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			last := ""
			var final *mitaiv1.Job
			// The stream ends when the job does; Stream resumes it on
			// another replica if the one it watches fails.
			err = c.Stream(cmd.Context(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) error {
				stream, err := cl.WatchJob(ctx, &mitaiv1.GetJobRequest{JobId: args[0]})
				if err != nil {
					return err
				}
				for {
					resp, err := stream.Recv()
					if err == io.EOF {
						return nil
					}
					if err != nil {
						return err
					}
					job := resp.Job
					if now := stateName(job.State) + attemptLine(resp.Task); now != last {
						fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", time.Now().Format(time.TimeOnly), job.Id, now)
						last = now
					}
					final = job
				}
			})
			if err != nil {
				return err
			}
			switch {
			case final == nil:
				return fmt.Errorf("job %s: the watch ended without news", args[0])
			case final.State == mitaiv1.JobState_JOB_STATE_SUCCEEDED:
				return nil
			default:
				return fmt.Errorf("job %s %s: %s", final.Id, stateName(final.State), final.Reason)
			}
		},
	}
	wf.register(watch)

	var lf coordFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the jobs your party is involved in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := lf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var resp *mitaiv1.ListJobsResponse
			err = c.Call(cmd.Context(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
				resp, err = cl.ListJobs(ctx, &mitaiv1.ListJobsRequest{Read: &mitaiv1.ReadOptions{Consistent: true}})
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSTATE\tKIND\tPARTICIPANTS\tSUBMITTER\tCREATED")
			for _, j := range resp.Jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.Id, stateName(j.State), j.Spec.GetKind(),
					strings.Join(j.Spec.GetParticipants(), ","), j.Submitter, time.UnixMilli(j.CreatedUnixMs).UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	lf.register(list)

	var af coordFlags
	approve := &cobra.Command{
		Use:   "approve JOB",
		Short: "Approve a job over your party's dataset",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var job *mitaiv1.Job
			err = c.Call(cmd.Context(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
				job, err = cl.ApproveJob(ctx, &mitaiv1.ApproveJobRequest{JobId: args[0]})
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %s: %s\n", job.Id, stateName(job.State))
			return nil
		},
	}
	af.register(approve)

	var cf coordFlags
	var reason string
	cancel := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a job that has not ended",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var job *mitaiv1.Job
			err = c.Call(cmd.Context(), func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
				job, err = cl.CancelJob(ctx, &mitaiv1.CancelJobRequest{JobId: args[0], Reason: reason})
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job %s: %s\n", job.Id, stateName(job.State))
			return nil
		},
	}
	cf.register(cancel)
	cancel.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit ledger)")
	return []*cobra.Command{submit, status, watch, list, approve, cancel}
}

func getJob(ctx context.Context, c *coordclient.Client, id string, consistent bool) (*mitaiv1.GetJobResponse, error) {
	var resp *mitaiv1.GetJobResponse
	err := c.Call(ctx, func(ctx context.Context, cl mitaiv1.CoordinatorClient) (err error) {
		resp, err = cl.GetJob(ctx, &mitaiv1.GetJobRequest{JobId: id, Read: &mitaiv1.ReadOptions{Consistent: consistent}})
		return err
	})
	return resp, err
}

// attemptLine describes a job's latest attempt, "" before the first.
func attemptLine(t *mitaiv1.Task) string {
	if t == nil {
		return ""
	}
	line := fmt.Sprintf(", attempt %d/%d on %s (term %d) %s", t.Attempt, state.MaxAttempts, strings.Join(t.Nodes, " + "), t.Term,
		strings.ToLower(strings.TrimPrefix(t.State.String(), "TASK_STATE_")))
	if t.Error != "" {
		line += ": " + t.Error
	}
	return line
}

func printJob(w io.Writer, resp *mitaiv1.GetJobResponse) {
	j, read := resp.Job, resp.Read
	fmt.Fprintf(w, "job %s: %s\n", j.Id, stateName(j.State))
	if resp.Task != nil {
		fmt.Fprintf(w, "  %s\n", strings.TrimPrefix(attemptLine(resp.Task), ", "))
	}
	fmt.Fprintf(w, "  kind %s, participants %s, receivers %s\n", j.Spec.GetKind(), strings.Join(j.Spec.GetParticipants(), ", "), strings.Join(j.Spec.GetReceivers(), ", "))
	fmt.Fprintf(w, "  submitted by %s at %s (audit entry %d)\n", j.Submitter, time.UnixMilli(j.CreatedUnixMs).UTC().Format(time.RFC3339), j.AuditIndex)
	if len(j.PendingApprovals) > 0 {
		fmt.Fprintf(w, "  waiting for approval by: %s\n", strings.Join(j.PendingApprovals, ", "))
	}
	if j.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", j.Reason)
	}
	if r := resp.Task.GetReport(); r != nil && j.State == mitaiv1.JobState_JOB_STATE_SUCCEEDED {
		if r.KeySet != "" {
			fmt.Fprintf(w, "  key set %s\n", r.KeySet)
		}
		if r.Rows > 0 {
			fmt.Fprintf(w, "  rows %d\n", r.Rows)
		}
	}
	if read != nil {
		fresh := "consistent (through the leader)"
		if read.Stale {
			fresh = "possibly stale"
		}
		fmt.Fprintf(w, "  read from replica %s at applied index %d, %s\n", read.Replica, read.AppliedIndex, fresh)
	}
}

func stateName(s mitaiv1.JobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

func randomKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
