"""Fuzzing of the parsers a repository author or a webhook sender controls (issue 12).

One module per parser; each allows exactly two outcomes, a result or the parser's
documented refusal, so any other exception (RecursionError, KeyError, TypeError,
MemoryError, a hang) fails the test:

    test_yamlio          yamlio readers        yaml.YAMLError (TooLarge), Unsupported
    test_envsubst        envsubst, substitute  ParseError, Unset; SubstitutionError
    test_sops            sopsformat, sops      FormatError; DecryptionError
    test_kustomization   kustomization, inputs, direct (through build.digest)
                                               BuildError; NeedsKustomize
    test_semver          vcs.semver            None; giterrors.InvalidRef
    test_webhooks        notification.webhooks Rejected (400, 401, 403)

Every failure found is kept as an `@example` next to its test, and corpus/<parser>/
holds nasty inputs (alias bombs, deep nesting, huge numbers, paths out of the artifact)
replayed on every run. `harness` bounds each example in time (a hard SIGALRM limit on
top of hypothesis, whose own deadline is off) and each test in memory (RLIMIT_AS).

Budget: at most 60 s for the whole directory. Measured on the 2-core machine shared
with other sessions (load 1.7-2.5): 24-42 s in pytest (26-45 s wall with start-up),
31 s with the CI profile (derandomized). `KIDP_FUZZ_SCALE=N` multiplies every example
count for a longer local run; at N=10 the directory took 8 minutes and found nothing
more.
"""
