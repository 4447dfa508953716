// An Express app exactly as it is written for a single process: no import from the
// multi-process toolkit, and it listens on 3000 itself.
import express from 'express';

const app = express();
app.get('/', (req, res) => res.send(`express, pid ${process.pid}, listening on ${JSON.stringify(server.address())}\n`));
const server = app.listen(3000, () => console.log(`express app listening on ${server.address().port}`));
