BEGIN TRANSACTION;
CREATE TABLE defects (
	id INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	signature VARCHAR(64) NOT NULL, 
	tracker_key VARCHAR(64), 
	tracker_status VARCHAR(64), 
	resolved BOOLEAN NOT NULL, 
	resolved_version VARCHAR(64), 
	title TEXT NOT NULL, 
	language VARCHAR(32) NOT NULL, 
	message TEXT NOT NULL, 
	exception_types JSON NOT NULL, 
	top_frames JSON NOT NULL, 
	sample_trace TEXT NOT NULL, 
	metadata JSON NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	occurrences INTEGER NOT NULL, 
	occurrences_reported INTEGER NOT NULL, 
	last_version VARCHAR(64), 
	fields JSON NOT NULL, 
	rule VARCHAR(200), 
	confirmed_by VARCHAR(320), 
	PRIMARY KEY (id)
);
INSERT INTO "defects" VALUES(1,'candidate','e8a52d0f204e9cd7',NULL,NULL,0,NULL,'SqlException in CaseRepository.GetById','dotnet','Execution Timeout Expired.  The timeout period elapsed prior to completion of the operation or the server is not responding.','["System.Data.SqlClient.SqlException", "System.ComponentModel.Win32Exception"]','["Acme.Desk.AppServer.Data.CaseRepository.GetById", "Acme.Desk.AppServer.Services.CaseService.GetCase", "SyncInvokeGetCase"]','Application: Acme Desk AppServer
Version: 5.6.1.3945
Machine: TS-CITRIX-082
User: CONTOSO\afournier
Time: 2024-06-14 01:22:47
Correlation-Id: d2cbb3e5-b632-bc2e-c7a5-289fd7e45555

Exception:
System.Data.SqlClient.SqlException (0x80131904): Execution Timeout Expired.  The timeout period elapsed prior to completion of the operation or the server is not responding. ---> System.ComponentModel.Win32Exception (0x80004005): The wait operation timed out
   --- End of inner exception stack trace ---
   at System.Data.SqlClient.SqlConnection.OnError(SqlException exception, Boolean breakConnection, Action`1 wrapCloseInAction)
   at System.Data.SqlClient.TdsParser.ThrowExceptionAndWarning(TdsParserStateObject stateObj, Boolean callerHasConnectionLock, Boolean asyncClose)
   at System.Data.SqlClient.TdsParser.TryRun(RunBehavior runBehavior, SqlCommand cmdHandler, SqlDataReader dataStream, BulkCopySimpleResultSet bulkCopyHandler, TdsParserStateObject stateObj, Boolean& dataReady)
   at System.Data.SqlClient.SqlDataReader.get_MetaData()
   at System.Data.SqlClient.SqlCommand.RunExecuteReaderTds(CommandBehavior cmdBehavior, RunBehavior runBehavior, Boolean returnStream, Boolean async, Int32 timeout, Task& task, Boolean asyncWrite, Boolean inRetry, SqlDataReader ds, Boolean describeParameterEncryption)
   at System.Data.SqlClient.SqlCommand.ExecuteReader(CommandBehavior behavior)
   at Dapper.SqlMapper.QueryImpl[T](IDbConnection cnn, CommandDefinition command, Type effectiveType)+MoveNext()
   at System.Collections.Generic.List`1..ctor(IEnumerable`1 collection)
   at Acme.Desk.AppServer.Data.CaseRepository.GetById(Int32 caseId) in E:\TFS\Desk\Release-4\src\Acme.Desk.AppServer\Data\CaseRepository.cs:line 1001
   at Acme.Desk.AppServer.Services.CaseService.GetCase(Int32 caseId) in E:\TFS\Desk\Release-4\src\Acme.Desk.AppServer\Services\CaseService.cs:line 1311
   at SyncInvokeGetCase(Object , Object[] , Object[] )
   at System.ServiceModel.Dispatcher.SyncMethodInvoker.Invoke(Object instance, Object[] inputs, Object[]& outputs)
   at System.ServiceModel.Dispatcher.DispatchOperationRuntime.InvokeBegin(MessageRpc& rpc)
   at System.ServiceModel.Dispatcher.ImmutableDispatchRuntime.ProcessMessage5(MessageRpc& rpc)
   at System.ServiceModel.Dispatcher.MessageRpc.Process(Boolean isOperationContextSet)
ClientConnectionId:041a52be-d596-ff82-6fe1-e87b26d8a5c8
Error Number:-2,State:0,Class:11

Recent log:
2024-08-13 17:45:31 INFO  Opened record 7610581 (correlation a9ce2b98-9506-8438-0b8c-b4cd34055dd8)
2024-09-23 09:44:40 DEBUG Loaded configuration from profile 9400071
2024-07-07 17:47:34 INFO  Opened record 157322 (correlation 42697df8-d654-e645-0f65-6fc4699d7afa)
2024-12-18 09:58:25 INFO  Session started for afournier on WKS354
2024-07-18 18:41:56 WARN  Slow response from backend: 5931726 ms
2024-02-17 17:07:03 INFO  Session started for jdoe on PC-HR-304
2024-04-03 19:48:39 INFO  Opened record 1058894 (correlation 6452a43c-6da9-83d1-9039-850201fc6769)
','{"application": "Acme Desk AppServer", "version": "5.6.1.3945", "machine": "TS-CITRIX-082", "user": "CONTOSO\\afournier", "time": "2024-06-14 01:22:47", "correlation_id": "d2cbb3e5-b632-bc2e-c7a5-289fd7e45555", "clientconnectionid": "041a52be-d596-ff82-6fe1-e87b26d8a5c8", "error_number": "-2,State:0,Class:11"}','2026-12-07 05:52:10.773600','2026-12-07 05:52:10.773600',3,0,'5.6.1.3945','{}','default',NULL);
INSERT INTO "defects" VALUES(2,'candidate','c8028b4b153a6de7',NULL,NULL,0,NULL,'TypeError in CheckoutService.applyVoucher','javascript','Cannot read properties of undefined (reading ''discount'')','["TypeError"]','["services/checkout-service:CheckoutService.applyVoucher", "services/checkout-service:CheckoutService.submit", "controllers/checkout:CheckoutController.post"]','Application: shop-api
Version: 5.6.0.6858
Machine: LT-OPS-004
User: CORP\lgarcia
Time: 2024-08-19 05:10:47
Correlation-Id: 7a8d7276-a000-fab4-1609-382039d947eb

Exception:
TypeError: Cannot read properties of undefined (reading ''discount'')
    at CheckoutService.applyVoucher (/home/node/api/dist/services/checkout-service.js:591:20772)
    at async CheckoutService.submit (/home/node/api/dist/services/checkout-service.js:247:11091)
    at async CheckoutController.post (/home/node/api/dist/controllers/checkout.js:356:34544)
    at async /home/node/api/node_modules/@fastify/middie/lib/engine.js:68:20546
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)

Recent log:
2024-09-02 06:12:02 INFO  Cache refreshed, 6 entries
2024-10-17 20:52:46 INFO  Session started for afournier on LT-OPS-186
2024-03-26 07:22:37 INFO  Opened record 2448465 (correlation 552593a9-0980-02d3-fc17-059258babfd1)
2024-05-22 13:30:54 DEBUG Loaded configuration from profile 9371029
2024-07-18 19:37:25 INFO  Session started for jdoe on APPSRV429
2024-02-27 10:04:44 DEBUG Loaded configuration from profile 7048673
2024-12-11 15:09:56 DEBUG Loaded configuration from profile 1086203
2024-12-20 14:15:58 INFO  Cache refreshed, 39 entries
2024-02-09 04:55:24 INFO  Opened record 5541973 (correlation f739221d-b3ef-8dff-e961-da537d16fbc1)
2024-11-28 14:57:54 INFO  Cache refreshed, 13 entries
2024-08-08 09:44:14 INFO  Opened record 3455998 (correlation 0db9ec67-093c-363b-f2ff-5b404b324c94)
2024-03-19 18:18:11 WARN  Slow response from backend: 2008291 ms
2024-05-12 22:45:47 DEBUG Loaded configuration from profile 7666860
2024-01-21 13:19:07 INFO  Opened record 7650885 (correlation 83ae36a3-646c-8dc2-5d2a-ada10a8e492c)
2024-11-18 13:52:48 INFO  Opened record 2490146 (correlation 5562f3a8-d7d8-1079-d2ef-44bd010eaf51)
2024-03-21 14:13:16 INFO  Cache refreshed, 17 entries
2024-03-18 00:12:23 INFO  Opened record 9263403 (correlation 6c68694a-4ff4-08a0-037d-5eb7d48f010c)
2024-02-05 08:28:13 INFO  Session started for psmith on TS-CITRIX-010
2024-06-11 19:42:16 INFO  Opened record 7167726 (correlation 6807a554-307b-52f5-32de-f00adc8dc8a4)
','{"application": "shop-api", "version": "5.6.0.6858", "machine": "LT-OPS-004", "user": "CORP\\lgarcia", "time": "2024-08-19 05:10:47", "correlation_id": "7a8d7276-a000-fab4-1609-382039d947eb"}','2026-12-07 05:52:10.773600','2026-12-07 05:52:10.773600',2,0,'5.6.0.6858','{}','default',NULL);
INSERT INTO "defects" VALUES(3,'filed','6df731b82f517c94','LOCAL-1','Open',0,NULL,'NullReferenceException in CaseViewModel.LoadAsync','dotnet','Object reference not set to an instance of an object.','["System.NullReferenceException"]','["Acme.Desk.Client.ViewModels.CaseViewModel.LoadAsync", "Acme.Desk.Client.Views.CaseView.OnLoaded"]','Application: Acme Desk Client
Version: 4.2.9.5976
Machine: NB-SALES-455
User: ACME\jürgen.maier
Time: 2024-12-25 06:44:48
Correlation-Id: b5834f4c-ecb7-36d8-77f1-caf0ba49c19f

Exception:
System.NullReferenceException: Object reference not set to an instance of an object.
   at Acme.Desk.Client.ViewModels.CaseViewModel.<LoadAsync>d__40.MoveNext() in C:\Users\builder\source\repos\AcmeDesk\src\Acme.Desk.Client\ViewModels\CaseViewModel.cs:line 1032
--- End of stack trace from previous location where exception was thrown ---
   at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw()
   at System.Runtime.CompilerServices.TaskAwaiter.HandleNonSuccessAndDebuggerNotification(Task task)
   at Acme.Desk.Client.Views.CaseView.<OnLoaded>d__22.MoveNext() in C:\Users\builder\source\repos\AcmeDesk\src\Acme.Desk.Client\Views\CaseView.xaml.cs:line 863
--- End of stack trace from previous location where exception was thrown ---
   at System.Runtime.CompilerServices.AsyncMethodBuilderCore.<>c.<ThrowAsync>b__6_0(Object state)
   at System.Windows.Threading.ExceptionWrapper.InternalRealCall(Delegate callback, Object args, Int32 numArgs)
   at System.Windows.Threading.ExceptionWrapper.TryCatchWhen(Object source, Delegate callback, Object args, Int32 numArgs, Delegate catchHandler)

Recent log:
2024-04-28 13:03:49 INFO  Cache refreshed, 22 entries
2024-08-04 23:47:08 WARN  Slow response from backend: 5488218 ms
2024-06-12 06:20:27 WARN  Slow response from backend: 6952308 ms
2024-10-07 13:14:13 INFO  Opened record 679359 (correlation 04f8c31c-c30d-0ea3-39a7-ff57bffa0775)
2024-09-11 18:51:45 INFO  Opened record 7064133 (correlation d9f181ea-54c4-c0c3-1cae-4e659d1a8c83)
2024-04-08 14:23:08 INFO  Cache refreshed, 12 entries
2024-08-20 20:09:16 INFO  Opened record 6497440 (correlation f0a737c3-55e3-679f-5656-a72a9fa71a59)
2024-03-22 22:49:55 WARN  Slow response from backend: 2214858 ms
','{"application": "Acme Desk Client", "version": "4.2.9.5976", "machine": "NB-SALES-455", "user": "ACME\\j\u00fcrgen.maier", "time": "2024-12-25 06:44:48", "correlation_id": "b5834f4c-ecb7-36d8-77f1-caf0ba49c19f"}','2026-12-07 05:52:10.773600','2026-12-07 05:52:12.057818',3,3,'4.14.3.2072','{}','default',NULL);
INSERT INTO "defects" VALUES(4,'filed','a1b0929a15afe920','LOCAL-2','Open',0,NULL,'KeyError in invoice.compute_totals','python','''shipping_745834''','["KeyError"]','["billing.invoice.compute_totals", "billing.invoice.finalize", "api.views.post_invoice"]','Application: billing
Version: 5.3.6.4157
Machine: NB-SALES-276
User: CORP\jdoe
Time: 2024-12-21 05:21:01
Correlation-Id: 79c521c3-deea-3edb-ab45-62e91b6e818d

Exception:
Traceback (most recent call last):
  File "/opt/acme/releases/4.14.3.5124/billing/api/views.py", line 1231, in post_invoice
    invoice = service.finalize(invoice_id)
  File "/opt/acme/releases/4.14.3.5124/billing/invoice.py", line 52, in finalize
    totals = self.compute_totals(lines)
  File "/opt/acme/releases/4.14.3.5124/billing/invoice.py", line 1072, in compute_totals
    net = sum(line.amount for line in lines) + self.fees[line_type]
KeyError: ''shipping_745834''

Recent log:
2024-10-22 08:23:28 INFO  Session started for mmueller on APPSRV391
2024-04-03 16:26:20 WARN  Slow response from backend: 2697085 ms
2024-11-12 23:09:06 INFO  Session started for jdoe on TS-CITRIX-222
2024-07-14 18:17:19 INFO  Opened record 8621869 (correlation d9eda998-5aa4-ea92-887d-3917109257c2)
','{"application": "billing", "version": "5.3.6.4157", "machine": "NB-SALES-276", "user": "CORP\\jdoe", "time": "2024-12-21 05:21:01", "correlation_id": "79c521c3-deea-3edb-ab45-62e91b6e818d"}','2026-12-07 05:52:12.057818','2026-12-07 05:52:12.057818',2,2,'5.5.0.7211','{}','file-all',NULL);
INSERT INTO "defects" VALUES(5,'filed','133414e6690460f3','LOCAL-3','Open',0,NULL,'NullPointerException in InvoiceService.computeTotals','java','Cannot invoke "java.math.BigDecimal.add(java.math.BigDecimal)" because "<local19>" is null','["java.lang.NullPointerException"]','["com.acme.billing.invoice.InvoiceService.computeTotals", "com.acme.billing.invoice.InvoiceService.finalizeInvoice", "com.acme.billing.web.InvoiceController.finalize"]','Application: Acme Billing
Version: 4.10.3.3122
Machine: WS-ACC-400
User: ACME\jürgen.maier
Time: 2024-09-25 16:31:28
Correlation-Id: c558eb16-6dcf-cadb-8eee-9fdcef562fa9

Exception:
Exception in thread "http-nio-8080-exec-16" java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.add(java.math.BigDecimal)" because "<local19>" is null
	at java.base/java.math.BigDecimal.add(BigDecimal.java:44)
	at com.acme.billing.invoice.InvoiceService.lambda$computeTotals$18(InvoiceService.java:477)
	at com.acme.billing.invoice.InvoiceService$$Lambda$1340200/0x0000000829c4b040.apply(Unknown Source)
	at java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)
	at java.base/java.util.ArrayList$ArrayListSpliterator.forEachRemaining(ArrayList.java:1625)
	at java.base/java.util.stream.ReduceOps$ReduceOp.evaluateSequential(ReduceOps.java:921)
	at com.acme.billing.invoice.InvoiceService.computeTotals(InvoiceService.java:532)
	at com.acme.billing.invoice.InvoiceService.finalizeInvoice(InvoiceService.java:30)
	at org.springframework.aop.support.AopUtils.invokeJoinpointUsingReflection(AopUtils.java:1079)
	at org.springframework.aop.framework.ReflectiveMethodInvocation.proceed(ReflectiveMethodInvocation.java:733)
	at org.springframework.transaction.interceptor.TransactionInterceptor.invoke(TransactionInterceptor.java:1366)
	at org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor.intercept(CglibAopProxy.java:251)
	at com.acme.billing.invoice.InvoiceService$$EnhancerBySpringCGLIB$$b7121978.finalizeInvoice(<generated>)
	at com.acme.billing.web.InvoiceController.finalize(InvoiceController.java:1249)
	at java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
	at org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:216)
	at java.base/java.lang.Thread.run(Thread.java:840)

Recent log:
2024-09-12 16:41:05 INFO  Session started for jdoe on WKS200
2024-07-17 04:48:12 INFO  Cache refreshed, 30 entries
2024-10-25 19:47:40 INFO  Cache refreshed, 0 entries
2024-08-03 17:36:21 INFO  Cache refreshed, 33 entries
2024-12-23 22:48:41 DEBUG Loaded configuration from profile 6588118
2024-04-16 06:23:15 INFO  Cache refreshed, 33 entries
2024-11-14 02:07:08 INFO  Opened record 7699530 (correlation 7242d5c4-ada1-3ce1-c9c1-651e78829bfb)
','{"application": "Acme Billing", "version": "4.10.3.3122", "machine": "WS-ACC-400", "user": "ACME\\j\u00fcrgen.maier", "time": "2024-09-25 16:31:28", "correlation_id": "c558eb16-6dcf-cadb-8eee-9fdcef562fa9"}','2026-12-07 05:52:12.057818','2026-12-07 05:52:12.057818',2,2,'4.10.3.3122','{}','file-all',NULL);
CREATE TABLE digest_runs (
	digest VARCHAR(200) NOT NULL, 
	period_end DATETIME NOT NULL, 
	period_start DATETIME NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME, 
	message_id VARCHAR(998), 
	error TEXT, 
	PRIMARY KEY (digest, period_end)
);
CREATE TABLE local_issues (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	status VARCHAR(32) NOT NULL, 
	resolved BOOLEAN NOT NULL, 
	summary TEXT NOT NULL, 
	description TEXT NOT NULL, 
	project VARCHAR(64), 
	issue_type VARCHAR(64), 
	priority VARCHAR(64), 
	components JSON NOT NULL, 
	assignee VARCHAR(200), 
	occurrences INTEGER NOT NULL, 
	last_seen DATETIME, 
	comments INTEGER NOT NULL, 
	created DATETIME NOT NULL, 
	updated DATETIME NOT NULL
);
INSERT INTO "local_issues" VALUES(1,'Open',0,'NullReferenceException in CaseViewModel.LoadAsync','NullReferenceException in CaseViewModel.LoadAsync

application: Acme Desk Client
correlation_id: b5834f4c-ecb7-36d8-77f1-caf0ba49c19f
machine: NB-SALES-455
time: 2024-12-25 06:44:48
user: ACME\jürgen.maier
version: 4.2.9.5976

Exception chain: System.NullReferenceException
Message: Object reference not set to an instance of an object.

Top in-app frames:
  Acme.Desk.Client.ViewModels.CaseViewModel.LoadAsync
  Acme.Desk.Client.Views.CaseView.OnLoaded

Signature: 6df731b82f517c94

Application: Acme Desk Client
Version: 4.2.9.5976
Machine: NB-SALES-455
User: ACME\jürgen.maier
Time: 2024-12-25 06:44:48
Correlation-Id: b5834f4c-ecb7-36d8-77f1-caf0ba49c19f

Exception:
System.NullReferenceException: Object reference not set to an instance of an object.
   at Acme.Desk.Client.ViewModels.CaseViewModel.<LoadAsync>d__40.MoveNext() in C:\Users\builder\source\repos\AcmeDesk\src\Acme.Desk.Client\ViewModels\CaseViewModel.cs:line 1032
--- End of stack trace from previous location where exception was thrown ---
   at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw()
   at System.Runtime.CompilerServices.TaskAwaiter.HandleNonSuccessAndDebuggerNotification(Task task)
   at Acme.Desk.Client.Views.CaseView.<OnLoaded>d__22.MoveNext() in C:\Users\builder\source\repos\AcmeDesk\src\Acme.Desk.Client\Views\CaseView.xaml.cs:line 863
--- End of stack trace from previous location where exception was thrown ---
   at System.Runtime.CompilerServices.AsyncMethodBuilderCore.<>c.<ThrowAsync>b__6_0(Object state)
   at System.Windows.Threading.ExceptionWrapper.InternalRealCall(Delegate callback, Object args, Int32 numArgs)
   at System.Windows.Threading.ExceptionWrapper.TryCatchWhen(Object source, Delegate callback, Object args, Int32 numArgs, Delegate catchHandler)

Recent log:
2024-04-28 13:03:49 INFO  Cache refreshed, 22 entries
2024-08-04 23:47:08 WARN  Slow response from backend: 5488218 ms
2024-06-12 06:20:27 WARN  Slow response from backend: 6952308 ms
2024-10-07 13:14:13 INFO  Opened record 679359 (correlation 04f8c31c-c30d-0ea3-39a7-ff57bffa0775)
2024-09-11 18:51:45 INFO  Opened record 7064133 (correlation d9f181ea-54c4-c0c3-1cae-4e659d1a8c83)
2024-04-08 14:23:08 INFO  Cache refreshed, 12 entries
2024-08-20 20:09:16 INFO  Opened record 6497440 (correlation f0a737c3-55e3-679f-5656-a72a9fa71a59)
2024-03-22 22:49:55 WARN  Slow response from backend: 2214858 ms
',NULL,NULL,NULL,'[]',NULL,3,'2026-12-07 05:52:10.773600',0,'2026-12-07 05:52:12.077981','2026-12-07 05:52:12.077981');
INSERT INTO "local_issues" VALUES(2,'Open',0,'KeyError in invoice.compute_totals','KeyError in invoice.compute_totals

application: billing
correlation_id: 79c521c3-deea-3edb-ab45-62e91b6e818d
machine: NB-SALES-276
time: 2024-12-21 05:21:01
user: CORP\jdoe
version: 5.3.6.4157

Exception chain: KeyError
Message: ''shipping_745834''

Top in-app frames:
  billing.invoice.compute_totals
  billing.invoice.finalize
  api.views.post_invoice

Signature: a1b0929a15afe920

Application: billing
Version: 5.3.6.4157
Machine: NB-SALES-276
User: CORP\jdoe
Time: 2024-12-21 05:21:01
Correlation-Id: 79c521c3-deea-3edb-ab45-62e91b6e818d

Exception:
Traceback (most recent call last):
  File "/opt/acme/releases/4.14.3.5124/billing/api/views.py", line 1231, in post_invoice
    invoice = service.finalize(invoice_id)
  File "/opt/acme/releases/4.14.3.5124/billing/invoice.py", line 52, in finalize
    totals = self.compute_totals(lines)
  File "/opt/acme/releases/4.14.3.5124/billing/invoice.py", line 1072, in compute_totals
    net = sum(line.amount for line in lines) + self.fees[line_type]
KeyError: ''shipping_745834''

Recent log:
2024-10-22 08:23:28 INFO  Session started for mmueller on APPSRV391
2024-04-03 16:26:20 WARN  Slow response from backend: 2697085 ms
2024-11-12 23:09:06 INFO  Session started for jdoe on TS-CITRIX-222
2024-07-14 18:17:19 INFO  Opened record 8621869 (correlation d9eda998-5aa4-ea92-887d-3917109257c2)
',NULL,NULL,NULL,'[]',NULL,2,'2026-12-07 05:52:12.057818',0,'2026-12-07 05:52:12.081977','2026-12-07 05:52:12.081977');
INSERT INTO "local_issues" VALUES(3,'Open',0,'NullPointerException in InvoiceService.computeTotals','NullPointerException in InvoiceService.computeTotals

application: Acme Billing
correlation_id: c558eb16-6dcf-cadb-8eee-9fdcef562fa9
machine: WS-ACC-400
time: 2024-09-25 16:31:28
user: ACME\jürgen.maier
version: 4.10.3.3122

Exception chain: java.lang.NullPointerException
Message: Cannot invoke "java.math.BigDecimal.add(java.math.BigDecimal)" because "<local19>" is null

Top in-app frames:
  com.acme.billing.invoice.InvoiceService.computeTotals
  com.acme.billing.invoice.InvoiceService.finalizeInvoice
  com.acme.billing.web.InvoiceController.finalize

Signature: 133414e6690460f3

Application: Acme Billing
Version: 4.10.3.3122
Machine: WS-ACC-400
User: ACME\jürgen.maier
Time: 2024-09-25 16:31:28
Correlation-Id: c558eb16-6dcf-cadb-8eee-9fdcef562fa9

Exception:
Exception in thread "http-nio-8080-exec-16" java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.add(java.math.BigDecimal)" because "<local19>" is null
	at java.base/java.math.BigDecimal.add(BigDecimal.java:44)
	at com.acme.billing.invoice.InvoiceService.lambda$computeTotals$18(InvoiceService.java:477)
	at com.acme.billing.invoice.InvoiceService$$Lambda$1340200/0x0000000829c4b040.apply(Unknown Source)
	at java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)
	at java.base/java.util.ArrayList$ArrayListSpliterator.forEachRemaining(ArrayList.java:1625)
	at java.base/java.util.stream.ReduceOps$ReduceOp.evaluateSequential(ReduceOps.java:921)
	at com.acme.billing.invoice.InvoiceService.computeTotals(InvoiceService.java:532)
	at com.acme.billing.invoice.InvoiceService.finalizeInvoice(InvoiceService.java:30)
	at org.springframework.aop.support.AopUtils.invokeJoinpointUsingReflection(AopUtils.java:1079)
	at org.springframework.aop.framework.ReflectiveMethodInvocation.proceed(ReflectiveMethodInvocation.java:733)
	at org.springframework.transaction.interceptor.TransactionInterceptor.invoke(TransactionInterceptor.java:1366)
	at org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor.intercept(CglibAopProxy.java:251)
	at com.acme.billing.invoice.InvoiceService$$EnhancerBySpringCGLIB$$b7121978.finalizeInvoice(<generated>)
	at com.acme.billing.web.InvoiceController.finalize(InvoiceController.java:1249)
	at java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
	at org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:216)
	at java.base/java.lang.Thread.run(Thread.java:840)

Recent log:
2024-09-12 16:41:05 INFO  Session started for jdoe on WKS200
2024-07-17 04:48:12 INFO  Cache refreshed, 30 entries
2024-10-25 19:47:40 INFO  Cache refreshed, 0 entries
2024-08-03 17:36:21 INFO  Cache refreshed, 33 entries
2024-12-23 22:48:41 DEBUG Loaded configuration from profile 6588118
2024-04-16 06:23:15 INFO  Cache refreshed, 33 entries
2024-11-14 02:07:08 INFO  Opened record 7699530 (correlation 7242d5c4-ada1-3ce1-c9c1-651e78829bfb)
',NULL,NULL,NULL,'[]',NULL,2,'2026-12-07 05:52:12.057818',0,'2026-12-07 05:52:12.083293','2026-12-07 05:52:12.083293');
CREATE TABLE local_labels (
	issue_id INTEGER NOT NULL, 
	label VARCHAR(255) NOT NULL, 
	PRIMARY KEY (issue_id, label), 
	FOREIGN KEY(issue_id) REFERENCES local_issues (id)
);
INSERT INTO "local_labels" VALUES(1,'errsig-6df731b82f517c94');
INSERT INTO "local_labels" VALUES(2,'errsig-a1b0929a15afe920');
INSERT INTO "local_labels" VALUES(3,'errsig-133414e6690460f3');
CREATE TABLE messages (
	message_id VARCHAR(998) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	action VARCHAR(16), 
	rule VARCHAR(200), 
	signature VARCHAR(64), 
	defect_id INTEGER, 
	received_at DATETIME, 
	processed_at DATETIME NOT NULL, 
	source_ref VARCHAR(200), 
	reason TEXT, 
	PRIMARY KEY (message_id)
);
INSERT INTO "messages" VALUES('fd66da48-2636-9c69-0974-d14fa99c4855@ts-citrix-082.acme.example','error_report','candidate','default','e8a52d0f204e9cd7',1,'2024-06-27 06:56:32.000000','2026-12-07 05:52:10.773600','appserver-case-sql-timeout-01.eml',NULL);
INSERT INTO "messages" VALUES('1f0d1419-c6af-4539-6020-796aafb799cd@wks074.acme.example','error_report','candidate','default','e8a52d0f204e9cd7',1,'2024-02-09 13:56:20.000000','2026-12-07 05:52:10.773600','appserver-case-sql-timeout-02.eml',NULL);
INSERT INTO "messages" VALUES('fd9fd5ab-eb56-6949-1d60-6a2d64d48c3d@ws-acc-037.acme.example','error_report','candidate','default','e8a52d0f204e9cd7',1,'2024-07-05 19:52:11.000000','2026-12-07 05:52:10.773600','appserver-case-sql-timeout-03.eml',NULL);
INSERT INTO "messages" VALUES('1771afed-4923-29a9-20b2-103297a0d07d@lt-ops-004.acme.example','error_report','candidate','default','c8028b4b153a6de7',2,'2024-08-05 22:42:01.000000','2026-12-07 05:52:10.773600','checkout-voucher-typeerror-01.eml',NULL);
INSERT INTO "messages" VALUES('0a10e1bb-721e-fba6-0e1f-697174273c63@ts-citrix-469.acme.example','error_report','candidate','default','c8028b4b153a6de7',2,'2024-11-18 04:51:31.000000','2026-12-07 05:52:10.773600','checkout-voucher-typeerror-02.eml',NULL);
INSERT INTO "messages" VALUES('f6978770-9d9b-532a-ba4e-6c3686ff0de2@nb-sales-455.acme.example','error_report','candidate','default','6df731b82f517c94',3,'2024-09-10 21:21:33.000000','2026-12-07 05:52:10.773600','client-case-load-nullref-01.eml',NULL);
INSERT INTO "messages" VALUES('3d41c6df-48c3-fd37-cd92-01ff3215e848@ws-acc-432.acme.example','error_report','file','file-all','6df731b82f517c94',3,'2024-10-15 07:30:33.000000','2026-12-07 05:52:12.057818','client-case-load-nullref-02.eml',NULL);
INSERT INTO "messages" VALUES('9bc792db-36d4-9f67-099f-9b37f9f21c69@pc-hr-234.acme.example','error_report','file','file-all','6df731b82f517c94',3,'2024-08-18 16:51:03.000000','2026-12-07 05:52:12.057818','client-case-load-nullref-03.eml',NULL);
INSERT INTO "messages" VALUES('b8751390-236e-c63e-7d0d-bae7fb283c0b@nb-sales-276.acme.example','error_report','file','file-all','a1b0929a15afe920',4,'2024-07-27 08:17:56.000000','2026-12-07 05:52:12.057818','invoice-totals-keyerror-01.eml',NULL);
INSERT INTO "messages" VALUES('fbe6db9a-20f7-86c7-69fe-8c8fc50fe160@lt-ops-152.acme.example','error_report','file','file-all','a1b0929a15afe920',4,'2024-11-18 12:25:01.000000','2026-12-07 05:52:12.057818','invoice-totals-keyerror-02.eml',NULL);
INSERT INTO "messages" VALUES('e81319e3-f90e-4e62-633a-50f7d46601bf@ws-acc-400.acme.example','error_report','file','file-all','133414e6690460f3',5,'2024-12-18 18:46:30.000000','2026-12-07 05:52:12.057818','invoice-totals-npe-01.eml',NULL);
INSERT INTO "messages" VALUES('bae3a28e-03b9-9871-a968-ef303c188c87@lt-ops-436.acme.example','error_report','file','file-all','133414e6690460f3',5,'2024-03-27 00:07:51.000000','2026-12-07 05:52:12.057818','invoice-totals-npe-02.eml',NULL);
CREATE TABLE meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "meta" VALUES('schema_version','1');
CREATE TABLE notifications (
	id INTEGER NOT NULL, 
	defect_id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	recipient VARCHAR(320) NOT NULL, 
	message_id VARCHAR(998) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(defect_id) REFERENCES defects (id)
);
CREATE TABLE occurrences (
	id INTEGER NOT NULL, 
	defect_id INTEGER NOT NULL, 
	message_id VARCHAR(998) NOT NULL, 
	at DATETIME NOT NULL, 
	application VARCHAR(200), 
	version VARCHAR(64), 
	environment VARCHAR(64), 
	machine VARCHAR(200), 
	PRIMARY KEY (id), 
	FOREIGN KEY(defect_id) REFERENCES defects (id)
);
INSERT INTO "occurrences" VALUES(1,1,'fd66da48-2636-9c69-0974-d14fa99c4855@ts-citrix-082.acme.example','2026-12-07 05:52:10.773600','Acme Desk AppServer','5.6.1.3945',NULL,'TS-CITRIX-082');
INSERT INTO "occurrences" VALUES(2,1,'1f0d1419-c6af-4539-6020-796aafb799cd@wks074.acme.example','2026-12-07 05:52:10.773600','Acme Desk AppServer','3.10.7.5132',NULL,'WKS074');
INSERT INTO "occurrences" VALUES(3,1,'fd9fd5ab-eb56-6949-1d60-6a2d64d48c3d@ws-acc-037.acme.example','2026-12-07 05:52:10.773600','Acme Desk AppServer','3.5.1.8838',NULL,'WS-ACC-037');
INSERT INTO "occurrences" VALUES(4,2,'1771afed-4923-29a9-20b2-103297a0d07d@lt-ops-004.acme.example','2026-12-07 05:52:10.773600','shop-api','5.6.0.6858',NULL,'LT-OPS-004');
INSERT INTO "occurrences" VALUES(5,2,'0a10e1bb-721e-fba6-0e1f-697174273c63@ts-citrix-469.acme.example','2026-12-07 05:52:10.773600','shop-api','5.1.2.9946',NULL,'TS-CITRIX-469');
INSERT INTO "occurrences" VALUES(6,3,'f6978770-9d9b-532a-ba4e-6c3686ff0de2@nb-sales-455.acme.example','2026-12-07 05:52:10.773600','Acme Desk Client','4.2.9.5976',NULL,'NB-SALES-455');
INSERT INTO "occurrences" VALUES(7,3,'3d41c6df-48c3-fd37-cd92-01ff3215e848@ws-acc-432.acme.example','2026-12-07 05:52:12.057818','Acme Desk Client','4.14.3.2072',NULL,'WS-ACC-432');
INSERT INTO "occurrences" VALUES(8,3,'9bc792db-36d4-9f67-099f-9b37f9f21c69@pc-hr-234.acme.example','2026-12-07 05:52:12.057818','Acme Desk Client','4.6.3.3939',NULL,'PC-HR-234');
INSERT INTO "occurrences" VALUES(9,4,'b8751390-236e-c63e-7d0d-bae7fb283c0b@nb-sales-276.acme.example','2026-12-07 05:52:12.057818','billing','5.3.6.4157',NULL,'NB-SALES-276');
INSERT INTO "occurrences" VALUES(10,4,'fbe6db9a-20f7-86c7-69fe-8c8fc50fe160@lt-ops-152.acme.example','2026-12-07 05:52:12.057818','billing','5.5.0.7211',NULL,'LT-OPS-152');
INSERT INTO "occurrences" VALUES(11,5,'e81319e3-f90e-4e62-633a-50f7d46601bf@ws-acc-400.acme.example','2026-12-07 05:52:12.057818','Acme Billing','4.10.3.3122',NULL,'WS-ACC-400');
INSERT INTO "occurrences" VALUES(12,5,'bae3a28e-03b9-9871-a968-ef303c188c87@lt-ops-436.acme.example','2026-12-07 05:52:12.057818','Acme Billing','3.0.1.4164',NULL,'LT-OPS-436');
CREATE TABLE outbox (
	id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	defect_id INTEGER NOT NULL, 
	payload JSON NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error TEXT, 
	created_at DATETIME NOT NULL, 
	pending_key VARCHAR(200), 
	PRIMARY KEY (id), 
	FOREIGN KEY(defect_id) REFERENCES defects (id), 
	UNIQUE (pending_key)
);
INSERT INTO "outbox" VALUES(1,'notify',1,'{"reason": "candidate"}','done',0,'2026-12-07 06:02:10.806268',NULL,'2026-12-07 05:52:10.773600',NULL);
INSERT INTO "outbox" VALUES(2,'notify',2,'{"reason": "candidate"}','done',0,'2026-12-07 06:02:10.806268',NULL,'2026-12-07 05:52:10.773600',NULL);
INSERT INTO "outbox" VALUES(3,'notify',3,'{"reason": "candidate"}','done',0,'2026-12-07 06:02:10.806268',NULL,'2026-12-07 05:52:10.773600',NULL);
INSERT INTO "outbox" VALUES(4,'create',3,'{}','done',0,'2026-12-07 06:02:12.071876',NULL,'2026-12-07 05:52:12.057818',NULL);
INSERT INTO "outbox" VALUES(5,'create',4,'{}','done',0,'2026-12-07 06:02:12.071876',NULL,'2026-12-07 05:52:12.057818',NULL);
INSERT INTO "outbox" VALUES(6,'create',5,'{}','done',0,'2026-12-07 06:02:12.071876',NULL,'2026-12-07 05:52:12.057818',NULL);
CREATE TABLE replies (
	message_id VARCHAR(998) NOT NULL, 
	defect_id INTEGER NOT NULL, 
	sender VARCHAR(320) NOT NULL, 
	verb VARCHAR(16) NOT NULL, 
	args JSON NOT NULL, 
	at DATETIME NOT NULL, 
	thread VARCHAR(998) NOT NULL, 
	acked BOOLEAN NOT NULL, 
	PRIMARY KEY (message_id), 
	FOREIGN KEY(defect_id) REFERENCES defects (id)
);
CREATE TABLE signatures (
	signature VARCHAR(64) NOT NULL, 
	version VARCHAR(16) NOT NULL, 
	defect_id INTEGER NOT NULL, 
	PRIMARY KEY (signature, version), 
	FOREIGN KEY(defect_id) REFERENCES defects (id)
);
INSERT INTO "signatures" VALUES('e8a52d0f204e9cd7','v1',1);
INSERT INTO "signatures" VALUES('c8028b4b153a6de7','v1',2);
INSERT INTO "signatures" VALUES('6df731b82f517c94','v1',3);
INSERT INTO "signatures" VALUES('a1b0929a15afe920','v1',4);
INSERT INTO "signatures" VALUES('133414e6690460f3','v1',5);
CREATE INDEX ix_defects_tracker_key ON defects (tracker_key);
CREATE INDEX ix_signatures_defect_id ON signatures (defect_id);
CREATE INDEX ix_occurrences_defect_at ON occurrences (defect_id, at);
CREATE INDEX ix_outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX ix_replies_defect_id ON replies (defect_id);
CREATE INDEX ix_replies_thread_at ON replies (thread, at);
CREATE INDEX ix_notifications_defect_kind ON notifications (defect_id, kind);
CREATE INDEX ix_local_labels_label ON local_labels (label);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('local_issues',3);
COMMIT;
