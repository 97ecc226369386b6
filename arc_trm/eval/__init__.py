"""Judging answers: pass@2 scores with intervals (scoring), solving and scoring a split (evaluate), the HTML report
and its pictures (report, render), and the paper's evaluation of a published checkpoint (reproduce)."""
