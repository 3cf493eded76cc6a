"""S3-compatible object storage: AWS Signature Version 4 (`sigv4`) and the few calls a
Bucket source needs (`client`: bucket exists, list, get — bounded), over the engine's
outbound HTTP."""
