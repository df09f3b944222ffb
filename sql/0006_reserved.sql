-- Reserved for issue 12 (reliability), which ships its own 0006 file; this
-- placeholder only keeps the numbering contiguous on branch p2-web. When
-- merging, the lead keeps issue 12's 0006 and deletes this file.
SELECT 1;
