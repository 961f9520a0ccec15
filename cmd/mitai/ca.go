package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/crypto/pki"
)

func caCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "Make the cluster CA and issue certificates"}
	var dir, name string
	var validity time.Duration
	initCmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a cluster CA (DIR/ca.crt, DIR/ca.key with mode 0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := pki.NewCA(name, validity)
			if err != nil {
				return err
			}
			if err := ca.Save(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA %q written to %s (fingerprint %s)\n", name, dir, pki.Fingerprint(ca.Cert))
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "ca", "folder for ca.crt and ca.key")
	initCmd.Flags().StringVar(&name, "name", "mitai cluster CA", "CA common name")
	initCmd.Flags().DurationVar(&validity, "validity", 0, "CA lifetime (0: 10 years)")

	var caDir, out, party, nodeName, certName string
	var hosts []string
	var certValidity time.Duration
	issueCmd := &cobra.Command{
		Use:   "issue --party NAME [--node NAME] [--host H]...",
		Short: "Issue a certificate for a party's node (or, without --node, an admin client)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := pki.LoadCA(caDir)
			if err != nil {
				return err
			}
			creds, err := ca.Issue(pki.IssueRequest{Party: party, Node: nodeName, Hosts: hosts, Validity: certValidity})
			if err != nil {
				return err
			}
			if certName == "" {
				certName = party
				if nodeName != "" {
					certName += "-" + nodeName
				}
			}
			if out == "" {
				out = caDir
			}
			if err := creds.Save(out, certName); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate for party %q: %s, key: %s\n", party,
				filepath.Join(out, certName+".crt"), filepath.Join(out, certName+".key"))
			return nil
		},
	}
	issueCmd.Flags().StringVar(&caDir, "ca-dir", "ca", "folder of the cluster CA")
	issueCmd.Flags().StringVar(&out, "out", "", "output folder (default: the CA folder)")
	issueCmd.Flags().StringVar(&party, "party", "", "party name (the certificate's CN)")
	issueCmd.Flags().StringVar(&nodeName, "node", "", "node name (recorded as URI SAN mitai://party/node)")
	issueCmd.Flags().StringVar(&certName, "name", "", "file name without extension (default: party[-node])")
	issueCmd.Flags().StringSliceVar(&hosts, "host", nil, "DNS name or IP the node is reached at (repeatable)")
	issueCmd.Flags().DurationVar(&certValidity, "validity", 0, "certificate lifetime (0: 1 year)")
	_ = issueCmd.MarkFlagRequired("party")
	cmd.AddCommand(initCmd, issueCmd)
	return cmd
}
