/** s3rver as its own process, so a drill can stop S3 with SIGKILL and start it again on the same port and directory. */
const S3rver = require('s3rver');

const [port, dir, bucket] = process.argv.slice(2);
new S3rver({ port: Number(port), address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket }] })
  .run()
  .then(() => process.stdout.write('s3rver ready\n'));
