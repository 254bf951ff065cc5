\startpipeline
BEGIN;
SELECT 1;
\endpipeline
\startpipeline
SELECT 1;
COMMIT;
\endpipeline
