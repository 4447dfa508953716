// A NestJS app (platform-express) exactly as it runs in a single process: it imports nothing from
// handoff, enables Nest's shutdown hooks and calls app.listen(3000) itself. Plain JavaScript, so
// it runs without a build step: the decorators TypeScript would write as @Controller(), @Get() and
// @Module() are applied by hand (Reflect.decorate), and the constructor's parameter types, which
// TypeScript's emitDecoratorMetadata would record, are given to Nest with @Inject().
import 'reflect-metadata';
import { Controller, Get, Inject, Injectable, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

class AppService {
  startedAt = Date.now();

  info() {
    return { framework: 'nestjs', pid: process.pid, uptimeMs: Date.now() - this.startedAt };
  }

  // Nest's lifecycle hooks, run by app.close() (and, with enableShutdownHooks(), on a signal).
  async onModuleDestroy() {
    console.error(`nestjs ${process.pid}: onModuleDestroy`);
  }

  async beforeApplicationShutdown(signal) {
    console.error(`nestjs ${process.pid}: beforeApplicationShutdown(${signal})`);
  }

  async onApplicationShutdown(signal) {
    // Stands for closing a database pool: it takes a moment.
    await new Promise((resolve) => setTimeout(resolve, 100));
    console.error(`nestjs ${process.pid}: onApplicationShutdown(${signal})`);
  }
}
Reflect.decorate([Injectable()], AppService);

class AppController {
  constructor(service) {
    this.service = service;
  }

  root() {
    return { ...this.service.info(), address: server.address() };
  }

  hello(name) {
    return { hello: name, pid: process.pid };
  }
}
Reflect.decorate([Controller()], AppController);
// @Inject(AppService) on the constructor's first parameter:
Inject(AppService)(AppController, undefined, 0);
const method = (name, decorators) => Reflect.decorate(decorators, AppController.prototype, name, Object.getOwnPropertyDescriptor(AppController.prototype, name));
method('root', [Get()]);
method('hello', [Get('hello/:name')]);
Param('name')(AppController.prototype, 'hello', 0);

class AppModule {}
Reflect.decorate([Module({ controllers: [AppController], providers: [AppService] })], AppModule);

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
await app.listen(3000);
const server = app.getHttpServer();
console.log(`nestjs app listening on ${await app.getUrl()}`);
