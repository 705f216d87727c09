"""Write the labelled corpus under ``tests/corpus`` (the .eml files are committed; this script
documents where they came from and regenerates them deterministically).

Layout: ``tests/corpus/<language>/<group>/<NN>.eml``. All mails of a group are occurrences of
one bug and must share a signature; groups are distinct bugs, several of them hard negatives of
a neighbour (noted in the group's comment). ``tests/corpus/_not_reports/`` holds mail that is
not an error report. Templates use the placeholders of ``mailgen.expand`` plus ``{ROOT}``
(install or build path) and ``{HASH}``/``{HASH2}`` (bundle or proxy hash), one per mail.

    python bench/build_corpus.py [--out tests/corpus] [--samples samples]
"""

from __future__ import annotations

import argparse
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import mailgen

# --------------------------------------------------------------------------- .NET localisation

#: What a localised .NET runtime changes in ``Exception.ToString()`` (resource strings only).
_DOTNET_WORDS = {
    "de": (
        ("   at ", "   bei "),
        (":line ", ":Zeile "),
        (
            "--- End of stack trace from previous location where exception was thrown ---",
            "--- Ende der Stapelüberwachung vom vorhergehenden Ort, an dem die Ausnahme "
            "ausgelöst wurde ---",
        ),
        (
            "--- End of inner exception stack trace ---",
            "--- Ende der internen Ausnahmestapelüberwachung ---",
        ),
        (
            "Object reference not set to an instance of an object.",
            "Der Objektverweis wurde nicht auf eine Objektinstanz festgelegt.",
        ),
        (
            "Unable to cast object of type 'System.DBNull' to type 'System.String'.",
            'Das Objekt des Typs "System.DBNull" kann nicht in Typ "System.String" '
            "umgewandelt werden.",
        ),
    ),
    "fr": (
        ("   at ", "   à "),
        (" in {ROOT}", " dans {ROOT}"),
        (":line ", ":ligne "),
        (
            "--- End of stack trace from previous location where exception was thrown ---",
            "--- Fin de la trace de la pile à partir de l'emplacement précédent au niveau "
            "duquel l'exception a été levée ---",
        ),
        (
            "--- End of inner exception stack trace ---",
            "--- Fin de la trace de la pile d'exception interne ---",
        ),
        (
            "Object reference not set to an instance of an object.",
            "La référence d'objet n'est pas définie à une instance d'un objet.",
        ),
    ),
}


def localize(template: str, lang: str) -> str:
    """The same trace as a German or French .NET runtime prints it."""
    for english, local in _DOTNET_WORDS[lang]:
        template = template.replace(english, local)
    return template


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True, slots=True)
class Group:
    """One bug: its trace template(s) (variants used round-robin) and the mail shapes."""

    language: str
    name: str
    app: str
    variants: tuple[str, ...]
    shapes: tuple[str, ...]
    roots: tuple[str, ...] = ()  # install paths when not the language's usual ones


ROOTS = {
    "dotnet": (
        "C:\\Build\\Agent\\_work\\{N}\\s",
        "D:\\a\\1\\s",
        "C:\\Users\\builder\\source\\repos\\AcmeDesk",
        "E:\\TFS\\Desk\\Release-{N}",
    ),
    "java": ("",),
    "python": (
        "/opt/acme/releases/{VER}",
        "/srv/billing/current",
        "/home/deploy/billing",
    ),
    "javascript": ("/srv/api/releases/{ID}", "/app", "/home/node/api", "/var/lib/api-{N}"),
    "go": ("/home/runner/work/dispatch/dispatch", "/build/src/dispatch", "/go/src/dispatch"),
    "ruby": ("/srv/shop/releases/2024{ID}", "/home/deploy/shop/releases/2023{ID}", "/app"),
    "php": ("/var/www/billing", "/srv/billing/releases/{ID}", "/app"),
}

_ASYNC_RETHROW = (
    "--- End of stack trace from previous location where exception was thrown ---\n"
    "   at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw()\n"
    "   at System.Runtime.CompilerServices.TaskAwaiter.HandleNonSuccessAndDebuggerNotification("
    "Task task)\n"
)
_WPF_DISPATCH = (
    "   at System.Windows.Threading.ExceptionWrapper.InternalRealCall(Delegate callback, "
    "Object args, Int32 numArgs)\n"
    "   at System.Windows.Threading.ExceptionWrapper.TryCatchWhen(Object source, Delegate "
    "callback, Object args, Int32 numArgs, Delegate catchHandler)\n"
)
_WINFORMS_CLICK = (
    "   at System.Windows.Forms.Control.OnClick(EventArgs e)\n"
    "   at System.Windows.Forms.Button.OnClick(EventArgs e)\n"
    "   at System.Windows.Forms.Button.OnMouseUp(MouseEventArgs mevent)\n"
    "   at System.Windows.Forms.Control.WmMouseUp(Message& m, MouseButtons button, Int32 clicks)\n"
    "   at System.Windows.Forms.Control.WndProc(Message& m)\n"
    "   at System.Windows.Forms.NativeWindow.Callback(IntPtr hWnd, Int32 msg, IntPtr wparam, "
    "IntPtr lparam)\n"
)
_WCF_DISPATCH = (
    "   at SyncInvoke{OP}(Object , Object[] , Object[] )\n"
    "   at System.ServiceModel.Dispatcher.SyncMethodInvoker.Invoke(Object instance, "
    "Object[] inputs, Object[]& outputs)\n"
    "   at System.ServiceModel.Dispatcher.DispatchOperationRuntime.InvokeBegin(MessageRpc& rpc)\n"
    "   at System.ServiceModel.Dispatcher.ImmutableDispatchRuntime.ProcessMessage5("
    "MessageRpc& rpc)\n"
    "   at System.ServiceModel.Dispatcher.MessageRpc.Process(Boolean isOperationContextSet)\n"
)
_SQL_TIMEOUT_HEAD = (
    "System.Data.SqlClient.SqlException (0x80131904): Execution Timeout Expired.  The timeout "
    "period elapsed prior to completion of the operation or the server is not responding. ---> "
    "System.ComponentModel.Win32Exception (0x80004005): The wait operation timed out\n"
)
_SQL_FRAMES = (
    "   at System.Data.SqlClient.SqlConnection.OnError(SqlException exception, Boolean "
    "breakConnection, Action`1 wrapCloseInAction)\n"
    "   at System.Data.SqlClient.TdsParser.ThrowExceptionAndWarning(TdsParserStateObject stateObj, "
    "Boolean callerHasConnectionLock, Boolean asyncClose)\n"
    "   at System.Data.SqlClient.TdsParser.TryRun(RunBehavior runBehavior, SqlCommand cmdHandler, "
    "SqlDataReader dataStream, BulkCopySimpleResultSet bulkCopyHandler, TdsParserStateObject "
    "stateObj, Boolean& dataReady)\n"
    "   at System.Data.SqlClient.SqlDataReader.get_MetaData()\n"
    "   at System.Data.SqlClient.SqlCommand.RunExecuteReaderTds(CommandBehavior cmdBehavior, "
    "RunBehavior runBehavior, Boolean returnStream, Boolean async, Int32 timeout, Task& task, "
    "Boolean asyncWrite, Boolean inRetry, SqlDataReader ds, Boolean describeParameterEncryption)\n"
    "   at System.Data.SqlClient.SqlCommand.ExecuteReader(CommandBehavior behavior)\n"
    "   at Dapper.SqlMapper.QueryImpl[T](IDbConnection cnn, CommandDefinition command, Type "
    "effectiveType)+MoveNext()\n"
    "   at System.Collections.Generic.List`1..ctor(IEnumerable`1 collection)\n"
)
_SQL_TAIL = "ClientConnectionId:{GUID}\nError Number:-2,State:0,Class:11\n"

C = "{ROOT}\\src\\Acme.Desk.Client\\"
S = "{ROOT}\\src\\Acme.Desk.AppServer\\"
W = "{ROOT}\\src\\Contoso.Claims.Client\\"


def _dotnet_groups() -> list[Group]:
    load_async = (
        "System.NullReferenceException: Object reference not set to an instance of an object.\n"
        "   at Acme.Desk.Client.ViewModels.CaseViewModel.<LoadAsync>d__{N}.MoveNext() in "
        + C
        + "ViewModels\\CaseViewModel.cs:line {L}\n"
        + _ASYNC_RETHROW
        + "   at Acme.Desk.Client.Views.CaseView.<OnLoaded>d__{N}.MoveNext() in "
        + C
        + "Views\\CaseView.xaml.cs:line {L}\n"
        "--- End of stack trace from previous location where exception was thrown ---\n"
        "   at System.Runtime.CompilerServices.AsyncMethodBuilderCore.<>c.<ThrowAsync>b__6_0("
        "Object state)\n" + _WPF_DISPATCH
    )
    # Hard negative of load_async: same exception type, another top in-app function.
    save_async = load_async.replace("<LoadAsync>", "<SaveAsync>").replace(
        "<OnLoaded>", "<OnSaveClicked>"
    )
    # Hard negative of load_async: same top frame, another exception type.
    first_empty = (
        "System.InvalidOperationException: Sequence contains no elements\n"
        "   at System.Linq.ThrowHelper.ThrowNoElementsException()\n"
        "   at System.Linq.Enumerable.First[TSource](IEnumerable`1 source)\n"
        + load_async.split("\n", 1)[1]
    )
    claim_lambda = (
        "System.InvalidCastException: Unable to cast object of type 'System.DBNull' to type "
        "'System.String'.\n"
        "   at System.Data.DataRowExtensions.UnboxT`1.ReferenceField(Object value)\n"
        "   at Contoso.Claims.Client.Forms.ClaimForm.<>c__DisplayClass{N}_0.<LoadClaim>b__{N}"
        "(DataRow row) in " + W + "Forms\\ClaimForm.cs:line {L}\n"
        "   at System.Linq.Enumerable.WhereSelectEnumerableIterator`2.MoveNext()\n"
        "   at System.Collections.Generic.List`1..ctor(IEnumerable`1 collection)\n"
        "   at System.Linq.Enumerable.ToList[TSource](IEnumerable`1 source)\n"
        "   at Contoso.Claims.Client.Forms.ClaimForm.LoadClaim(Int32 claimId) in "
        + W
        + "Forms\\ClaimForm.cs:line {L}\n"
        "   at Contoso.Claims.Client.Forms.ClaimForm.btnOpen_Click(Object sender, EventArgs e) in "
        + W
        + "Forms\\ClaimForm.cs:line {L}\n"
        + _WINFORMS_CLICK
    )
    sql_timeout = (
        _SQL_TIMEOUT_HEAD
        + "   --- End of inner exception stack trace ---\n"
        + _SQL_FRAMES
        + "   at Acme.Desk.AppServer.Data.CaseRepository.GetById(Int32 caseId) in "
        + S
        + "Data\\CaseRepository.cs:line {L}\n"
        "   at Acme.Desk.AppServer.Services.CaseService.GetCase(Int32 caseId) in "
        + S
        + "Services\\CaseService.cs:line {L}\n"
        + _WCF_DISPATCH.replace("{OP}", "GetCase")
        + _SQL_TAIL
    )
    batch = (
        "   at Acme.Desk.AppServer.Import.BatchReader.ReadNext() in "
        + S
        + "Import\\BatchReader.cs:line {L}\n"
        "   at Acme.Desk.AppServer.Import.ImportService.ProcessBatch(Guid batchId) in "
        + S
        + "Import\\ImportService.cs:line {L}\n"
        "   --- End of inner exception stack trace ---\n"
        "   at Acme.Desk.AppServer.Import.ImportService.ProcessBatch(Guid batchId) in "
        + S
        + "Import\\ImportService.cs:line {L}\n"
        "   at Acme.Desk.AppServer.Jobs.ImportJob.Execute(IJobExecutionContext context) in "
        + S
        + "Jobs\\ImportJob.cs:line {L}\n"
        "   at Quartz.Core.JobRunShell.Run(CancellationToken cancellationToken)\n"
    )
    head = "Acme.Desk.AppServer.Import.ImportException: Import of batch {GUID} failed. ---> "
    # Same outer exception and frames, different inner (root cause) type.
    import_format = (
        head + "System.FormatException: Input string was not in a correct format.\n"
        "   at System.Number.StringToNumber(String str, NumberStyles options, NumberBuffer& "
        "number, NumberFormatInfo info, Boolean parseDecimal)\n"
        "   at System.Number.ParseInt32(String s, NumberStyles style, NumberFormatInfo info)\n"
        + batch
    )
    import_io = (
        head + "System.IO.IOException: The network path was not found.\r\n\n"
        "   at System.IO.__Error.WinIOError(Int32 errorCode, String maybeFullPath)\n"
        "   at System.IO.FileStream.Init(String path, FileMode mode, FileAccess access, "
        "Int32 rights, Boolean useRights, FileShare share, Int32 bufferSize, FileOptions options, "
        "SECURITY_ATTRIBUTES secAttrs, String msgPath, Boolean bFromProxy, Boolean useLongPath, "
        "Boolean checkHost)\n"
        "   at System.IO.StreamReader.ReadLine()\n" + batch
    )
    aggregate = (
        "System.AggregateException: One or more errors occurred. ---> "
        "System.Threading.Tasks.TaskCanceledException: A task was canceled.\n"
        "   at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)\n"
        "   at System.Runtime.CompilerServices.TaskAwaiter.HandleNonSuccessAndDebuggerNotification("
        "Task task)\n"
        "   at Acme.Desk.Client.Services.SyncService.<PushChangesAsync>d__{N}.MoveNext() in "
        + C
        + "Services\\SyncService.cs:line {L}\n"
        "   --- End of inner exception stack trace ---\n"
        "   at System.Threading.Tasks.Task.ThrowIfExceptional(Boolean "
        "includeTaskCanceledExceptions)\n"
        "   at System.Threading.Tasks.Task.Wait(Int32 millisecondsTimeout, CancellationToken "
        "cancellationToken)\n"
        "   at Acme.Desk.Client.Services.SyncService.Synchronize() in "
        + C
        + "Services\\SyncService.cs:line {L}\n"
        "   at Acme.Desk.Client.Shell.MainWindow.OnSyncTimer(Object sender, EventArgs e) in "
        + C
        + "Shell\\MainWindow.xaml.cs:line {L}\n"
        "   at System.Windows.Threading.DispatcherTimer.FireTick(Object unused)\n"
        + _WPF_DISPATCH
        + "---> (Inner Exception #0) System.Threading.Tasks.TaskCanceledException: A task was "
        "canceled.\n"
        "   at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)\n"
        "   at System.Runtime.CompilerServices.TaskAwaiter.HandleNonSuccessAndDebuggerNotification("
        "Task task)\n"
        "   at Acme.Desk.Client.Services.SyncService.<PushChangesAsync>d__{N}.MoveNext() in "
        + C
        + "Services\\SyncService.cs:line {L}<---\n"
    )
    wcf = (
        "System.ServiceModel.EndpointNotFoundException: There was no endpoint listening at "
        "http://appsrv{N}.acme.local:8080/CaseService.svc that could accept the message. This is "
        "often caused by an incorrect address or SOAP action. See InnerException, if present, for "
        "more details. ---> System.Net.WebException: Unable to connect to the remote server ---> "
        "System.Net.Sockets.SocketException: No connection could be made because the target "
        "machine actively refused it 10.{N}.{N}.{N}:8080\n"
        "   at System.Net.Sockets.Socket.DoConnect(EndPoint endPointSnapshot, SocketAddress "
        "socketAddress)\n"
        "   at System.Net.ServicePoint.ConnectSocketInternal(Boolean connectFailure, Socket s4, "
        "Socket s6, Socket& socket, IPAddress& address, ConnectSocketState state, IAsyncResult "
        "asyncResult, Exception& exception)\n"
        "   --- End of inner exception stack trace ---\n"
        "   at System.Net.HttpWebRequest.GetRequestStream(TransportContext& context)\n"
        "   at System.Net.HttpWebRequest.GetRequestStream()\n"
        "   at System.ServiceModel.Channels.HttpOutput.WebRequestHttpOutput.GetOutputStream()\n"
        "   --- End of inner exception stack trace ---\n\n"
        "Server stack trace: \n"
        "   at System.ServiceModel.Channels.HttpOutput.WebRequestHttpOutput.GetOutputStream()\n"
        "   at System.ServiceModel.Channels.HttpChannelFactory`1.HttpRequestChannel."
        "HttpChannelRequest.SendRequest(Message message, TimeSpan timeout)\n"
        "   at System.ServiceModel.Channels.RequestChannel.Request(Message message, TimeSpan "
        "timeout)\n\n"
        "Exception rethrown at [0]: \n"
        "   at System.Runtime.Remoting.Proxies.RealProxy.HandleReturnMessage(IMessage reqMsg, "
        "IMessage retMsg)\n"
        "   at System.Runtime.Remoting.Proxies.RealProxy.PrivateInvoke(MessageData& msgData, "
        "Int32 type)\n"
        "   at Acme.Desk.Client.CaseServiceReference.ICaseService.GetCase(Int32 caseId)\n"
        "   at Acme.Desk.Client.CaseServiceReference.CaseServiceClient.GetCase(Int32 caseId) in "
        + C
        + "Service References\\CaseServiceReference\\Reference.cs:line {L}\n"
        "   at Acme.Desk.Client.ViewModels.CaseViewModel.Refresh() in "
        + C
        + "ViewModels\\CaseViewModel.cs:line {L}\n"
        "   at Acme.Desk.Client.Commands.RelayCommand.Execute(Object parameter) in "
        + C
        + "Commands\\RelayCommand.cs:line {L}\n"
        "   at MS.Internal.Commands.CommandHelpers.CriticalExecuteCommandSource(ICommandSource "
        "commandSource, Boolean userInitiated)\n"
    )
    http503 = (
        "System.Net.Http.HttpRequestException: Response status code does not indicate success: "
        "503 (Service Unavailable).\n"
        "   at System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()\n"
        "   at Acme.Desk.Client.Services.TariffClient.GetTariffsAsync(String region, "
        "CancellationToken ct) in " + C + "Services\\TariffClient.cs:line {L}\n"
        "   at Acme.Desk.Client.ViewModels.TariffViewModel.RefreshAsync() in "
        + C
        + "ViewModels\\TariffViewModel.cs:line {L}\n"
        "   at System.Threading.Tasks.Task.<>c.<ThrowAsync>b__128_1(Object state)\n" + _WPF_DISPATCH
    )
    recursion = (
        "System.Collections.Generic.KeyNotFoundException: The given key 'approval.level{N}' was "
        "not present in the dictionary.\n"
        "   at System.Collections.Generic.Dictionary`2.get_Item(TKey key)\n"
        "   at Acme.Desk.AppServer.Workflow.RuleContext.Resolve(String name) in "
        + S
        + "Workflow\\RuleContext.cs:line {L}\n"
        "[[R 1-12]]   at Acme.Desk.AppServer.Workflow.RuleEvaluator.Evaluate(RuleNode node) in "
        + S
        + "Workflow\\RuleEvaluator.cs:line {L}\n[[/R]]"
        "   at Acme.Desk.AppServer.Workflow.WorkflowEngine.Advance(Guid instanceId) in "
        + S
        + "Workflow\\WorkflowEngine.cs:line {L}\n"
        "   at Acme.Desk.AppServer.Jobs.WorkflowJob.Execute(IJobExecutionContext context) in "
        + S
        + "Jobs\\WorkflowJob.cs:line {L}\n"
        "   at Quartz.Core.JobRunShell.Run(CancellationToken cancellationToken)\n"
    )
    mapper = (
        "   at Acme.Desk.AppServer.Mapping.CustomerMapper.ToDto(Customer entity) in "
        + S
        + "Mapping\\CustomerMapper.cs:line {L}\n"
        "   at Acme.Desk.AppServer.Services.CustomerService.GetCustomer(Int32 customerId) in "
        + S
        + "Services\\CustomerService.cs:line {L}\n"
        + _WCF_DISPATCH.replace("{OP}", "GetCustomer")
    )
    # Two exceptions thrown from the same top frame.
    mapper_argnull = (
        "System.ArgumentNullException: Value cannot be null.\r\nParameter name: entity\n" + mapper
    )
    mapper_nullref = (
        "System.NullReferenceException: Object reference not set to an instance of an object.\n"
        + mapper
    )
    service_start = (
        "System.Configuration.ConfigurationErrorsException: The connection string 'DeskDb' is "
        "missing from {ROOT}\\bin\\Acme.Desk.AppServer.Host.exe.config\n"
        "   at Acme.Desk.AppServer.Host.Settings.RequireConnectionString(String name) in "
        + S
        + "Host\\Settings.cs:line {L}\n"
        "   at Acme.Desk.AppServer.Host.DeskHostService.OnStart(String[] args) in "
        + S
        + "Host\\DeskHostService.cs:line {L}\n"
        "   at System.ServiceProcess.ServiceBase.ServiceQueuedMainCallback(Object state)\n"
    )
    print_lambda = (
        "System.ObjectDisposedException: Cannot access a disposed object.\r\n"
        "Object name: 'PrintDocument'.\n"
        "   at System.Drawing.Printing.PrintDocument.Print()\n"
        "   at Acme.Desk.Client.Printing.LabelPrinter.<>c__DisplayClass{N}_0.<PrintAll>b__{N}() in "
        + C
        + "Printing\\LabelPrinter.cs:line {L}\n"
        "   at System.Threading.Tasks.Task.InnerInvoke()\n"
        "   at System.Threading.Tasks.Task.Execute()\n"
        + _ASYNC_RETHROW
        + "   at Acme.Desk.Client.Printing.LabelPrinter.<PrintAllAsync>d__{N}.MoveNext() in "
        + C
        + "Printing\\LabelPrinter.cs:line {L}\n"
    )
    core_async = (
        "System.InvalidOperationException: The invoice {ID} is locked by {USER}.\n"
        "   at Acme.Desk.AppServer.Billing.InvoiceLock.Acquire(Int32 invoiceId) in "
        "{ROOT}/src/Acme.Desk.AppServer/Billing/InvoiceLock.cs:line {L}\n"
        "   at Acme.Desk.AppServer.Billing.InvoiceService.ApproveAsync(Int32 invoiceId, "
        "CancellationToken ct) in {ROOT}/src/Acme.Desk.AppServer/Billing/InvoiceService.cs"
        ":line {L}\n"
        "--- End of stack trace from previous location ---\n"
        "   at Acme.Desk.AppServer.Api.InvoicesController.Approve(Int32 id) in "
        "{ROOT}/src/Acme.Desk.AppServer/Api/InvoicesController.cs:line {L}\n"
        "   at lambda_method{N}(Closure, Object)\n"
        "   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.AwaitableObjectResult"
        "Executor.Execute(ActionContext actionContext, IActionResultTypeMapper mapper, "
        "ObjectMethodExecutor executor, Object controller, Object[] arguments)\n"
        "   at Microsoft.AspNetCore.Routing.EndpointMiddleware.<Invoke>g__AwaitRequestTask|6_0"
        "(Endpoint endpoint, Task requestTask, ILogger logger)\n"
    )
    six = ("plain", "base64", "qp", "attachment", "html", "cp1252")
    return [
        Group(
            "dotnet",
            "client-case-load-nullref",
            "Acme Desk Client",
            (load_async, localize(load_async, "de"), localize(load_async, "fr")),
            ("plain", "cp1252", "qp", "alternative", "forwarded", "base64"),
        ),
        Group("dotnet", "client-case-save-nullref", "Acme Desk Client", (save_async,), six[:4]),
        Group(
            "dotnet", "client-case-load-no-elements", "Acme Desk Client", (first_empty,), six[2:]
        ),
        Group(
            "dotnet",
            "claims-form-lambda-invalidcast",
            "Contoso Claims",
            (claim_lambda, localize(claim_lambda, "de")),
            ("plain", "cp1252", "html", "quoted", "attachment"),
        ),
        Group(
            "dotnet",
            "appserver-case-sql-timeout",
            "Acme Desk AppServer",
            (sql_timeout,),
            ("plain", "attachment", "base64", "forwarded", "qp"),
        ),
        Group("dotnet", "appserver-import-format", "Acme Desk AppServer", (import_format,), six),
        Group("dotnet", "appserver-import-io", "Acme Desk AppServer", (import_io,), six[1:5]),
        Group(
            "dotnet",
            "client-sync-aggregate-canceled",
            "Acme Desk Client",
            (aggregate,),
            ("plain", "alternative", "base64", "quoted"),
        ),
        Group(
            "dotnet",
            "client-case-wcf-endpoint",
            "Acme Desk Client",
            (wcf,),
            ("plain", "qp", "attachment", "html", "forwarded"),
        ),
        Group("dotnet", "client-tariffs-http-503", "Acme Desk Client", (http503,), six[:4]),
        Group(
            "dotnet",
            "appserver-workflow-recursion-keynotfound",
            "Acme Desk AppServer",
            (recursion,),
            ("plain", "base64", "qp", "plain", "attachment"),
        ),
        Group(
            "dotnet", "appserver-mapper-argnull", "Acme Desk AppServer", (mapper_argnull,), six[:3]
        ),
        Group(
            "dotnet", "appserver-mapper-nullref", "Acme Desk AppServer", (mapper_nullref,), six[3:]
        ),
        Group(
            "dotnet",
            "appserver-service-start-config",
            "Acme Desk AppServer",
            (service_start,),
            ("plain", "forwarded", "base64"),
        ),
        Group(
            "dotnet",
            "client-print-lambda-disposed",
            "Acme Desk Client",
            (print_lambda,),
            ("plain", "html", "qp", "attachment"),
        ),
        Group(
            "dotnet",
            "appserver-core-invoice-locked",
            "Acme Desk AppServer",
            (core_async,),
            ("plain", "alternative", "quoted", "base64"),
            ("/src", "/home/vsts/work/{N}/s", "/app/build"),
        ),
    ]


_SPRING = (
    "\tat org.springframework.aop.support.AopUtils.invokeJoinpointUsingReflection("
    "AopUtils.java:{L})\n"
    "\tat org.springframework.aop.framework.ReflectiveMethodInvocation.proceed("
    "ReflectiveMethodInvocation.java:{L})\n"
    "\tat org.springframework.transaction.interceptor.TransactionInterceptor.invoke("
    "TransactionInterceptor.java:{L})\n"
    "\tat org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor.intercept("
    "CglibAopProxy.java:{L})\n"
)


def _java_groups() -> list[Group]:
    totals = (
        "\tat java.base/java.math.BigDecimal.add(BigDecimal.java:{L})\n"
        "\tat com.acme.billing.invoice.InvoiceService.lambda$computeTotals${N}("
        "InvoiceService.java:{L})\n"
        "\tat com.acme.billing.invoice.InvoiceService$$Lambda${ID}/0x00000008{N}c4b040.apply("
        "Unknown Source)\n"
        "\tat java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)\n"
        "\tat java.base/java.util.ArrayList$ArrayListSpliterator.forEachRemaining("
        "ArrayList.java:1625)\n"
        "\tat java.base/java.util.stream.ReduceOps$ReduceOp.evaluateSequential("
        "ReduceOps.java:921)\n"
        "\tat com.acme.billing.invoice.InvoiceService.computeTotals(InvoiceService.java:{L})\n"
        "\tat com.acme.billing.invoice.InvoiceService.finalizeInvoice(InvoiceService.java:{L})\n"
        + _SPRING
        + "\tat com.acme.billing.invoice.InvoiceService$$EnhancerBySpringCGLIB$${HASH}"
        ".finalizeInvoice(<generated>)\n"
        "\tat com.acme.billing.web.InvoiceController.finalize(InvoiceController.java:{L})\n"
        "\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n"
        "\tat org.apache.catalina.core.ApplicationFilterChain.doFilter("
        "ApplicationFilterChain.java:{L})\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:840)\n"
    )
    npe = (
        'Exception in thread "http-nio-8080-exec-{N}" java.lang.NullPointerException: Cannot '
        'invoke "java.math.BigDecimal.add(java.math.BigDecimal)" because "<local{N}>" is null\n'
        + totals
    )
    # Same frames, another exception type.
    illegal = (
        'Exception in thread "http-nio-8080-exec-{N}" java.lang.ArithmeticException: '
        "Non-terminating decimal expansion; no exact representable decimal result.\n" + totals
    )
    sync = (
        "com.acme.crm.sync.SyncFailedException: Sync of batch {ID} to partner {N} failed\n"
        "\tat com.acme.crm.sync.PartnerSync.pushBatch(PartnerSync.java:{L})\n"
        "\tat com.acme.crm.sync.PartnerSync.run(PartnerSync.java:{L})\n"
        "\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker("
        "ThreadPoolExecutor.java:1136)\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:833)\n"
        "Caused by: {CAUSE}\n"
        "{CAUSE_FRAMES}"
        "\tat com.acme.crm.sync.PartnerRepository.lockBatch(PartnerRepository.java:{L})\n"
        "\tat com.acme.crm.sync.PartnerSync.pushBatch(PartnerSync.java:{L})\n"
        "\t... {N} more\n"
    )
    deadlock = sync.replace(
        "{CAUSE}",
        "org.postgresql.util.PSQLException: ERROR: deadlock detected\n"
        "  Detail: Process {ID} waits for ShareLock on transaction {ID}; blocked by process {ID}.",
    ).replace(
        "{CAUSE_FRAMES}",
        "\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse("
        "QueryExecutorImpl.java:2713)\n"
        "\tat org.postgresql.jdbc.PgPreparedStatement.executeUpdate(PgPreparedStatement.java:{L})\n"
        "\tat com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeUpdate("
        "HikariProxyPreparedStatement.java)\n",
    )
    # Same outer exception and frames, another root cause.
    socket = sync.replace("{CAUSE}", "java.net.SocketTimeoutException: Read timed out").replace(
        "{CAUSE_FRAMES}",
        "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:{L})\n"
        "\tat java.base/java.net.Socket$SocketInputStream.read(Socket.java:{L})\n"
        "\tat org.postgresql.core.PGStream.receiveChar(PGStream.java:{L})\n"
        "\tat org.postgresql.jdbc.PgPreparedStatement.executeUpdate("
        "PgPreparedStatement.java:{L})\n",
    )
    route = (
        "java.util.NoSuchElementException: No value present\n"
        "\tat java.base/java.util.Optional.orElseThrow(Optional.java:377)\n"
        "\tat org.contoso.logistics.routing.RoutePlanner.nextHub(RoutePlanner.java:{L})\n"
        "[[R 1-8]]\tat org.contoso.logistics.routing.RoutePlanner.plan(RoutePlanner.java:{L})\n"
        "[[/R]]"
        "\tat org.contoso.logistics.routing.DispatchJob.execute(DispatchJob.java:{L})\n"
        "\tat org.quartz.core.JobRunShell.run(JobRunShell.java:202)\n"
    )
    return [
        Group(
            "java",
            "invoice-totals-npe",
            "Acme Billing",
            (npe,),
            ("plain", "qp", "html", "attachment", "forwarded"),
        ),
        Group(
            "java",
            "invoice-totals-arithmetic",
            "Acme Billing",
            (illegal,),
            ("plain", "base64", "alternative"),
        ),
        Group(
            "java",
            "sync-lock-deadlock",
            "Acme CRM Sync",
            (deadlock,),
            ("plain", "attachment", "qp", "base64"),
        ),
        Group(
            "java",
            "sync-lock-socket-timeout",
            "Acme CRM Sync",
            (socket,),
            ("plain", "quoted", "html"),
        ),
        Group(
            "java",
            "routing-plan-no-hub",
            "Contoso Logistics",
            (route,),
            ("plain", "base64", "qp", "attachment"),
        ),
    ]


_PY_LIB = "/usr/lib/python3.{N}"


def _python_groups() -> list[Group]:
    totals = (
        "Traceback (most recent call last):\n"
        '  File "{ROOT}/billing/api/views.py", line {L}, in post_invoice\n'
        "    invoice = service.finalize(invoice_id)\n"
        '  File "{ROOT}/billing/invoice.py", line {L}, in finalize\n'
        "    totals = self.compute_totals(lines)\n"
        '  File "{ROOT}/billing/invoice.py", line {L}, in compute_totals\n'
        "    net = sum(line.amount for line in lines) + self.fees[line_type]\n"
        "{EXC}\n"
    )
    keyerror = totals.replace("{EXC}", "KeyError: 'shipping_{ID}'")
    # Same frames, another exception type.
    typeerror = totals.replace(
        "{EXC}", "TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'"
    )
    chained = (
        "Traceback (most recent call last):\n"
        '  File "{ROOT}/.venv/lib/python3.11/site-packages/urllib3/connectionpool.py", line {L}, '
        "in urlopen\n"
        "    response = self._make_request(\n"
        '  File "{ROOT}/.venv/lib/python3.11/site-packages/urllib3/connection.py", line {L}, '
        "in connect\n"
        "    self.sock = self._new_conn()\n"
        "{INNER}\n\n"
        "The above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        '  File "{ROOT}/sync/workers/partner.py", line {L}, in run\n'
        "    self.push(batch)\n"
        '  File "{ROOT}/sync/workers/partner.py", line {L}, in push\n'
        '    raise SyncError(f"push of batch {batch.id} failed") from exc\n'
        "sync.errors.SyncError: push of batch {ID} failed\n"
    )
    refused = chained.replace(
        "{INNER}",
        "urllib3.exceptions.NewConnectionError: <urllib3.connection.HTTPSConnection object at "
        "{H}>: Failed to establish a new connection: [Errno 111] Connection refused",
    )
    # Same outer exception and frames, another root cause.
    timeout = chained.replace(
        "{INNER}",
        "TimeoutError: [Errno 110] Connection timed out",
    )
    walk = (
        "Traceback (most recent call last):\n"
        '  File "{ROOT}/reports/build.py", line {L}, in build_report\n'
        "    return render_tree(root)\n"
        '  File "{ROOT}/reports/tree.py", line {L}, in render_tree\n'
        "    children = [render_tree(c) for c in node.children]\n"
        "[[R 1-6]]"
        '  File "{ROOT}/reports/tree.py", line {L}, in render_tree\n'
        "    children = [render_tree(c) for c in node.children]\n"
        "[[/R]]"
        '  File "{ROOT}/reports/tree.py", line {L}, in render_tree\n'
        "    label = node.title.strip()\n"
        "AttributeError: 'NoneType' object has no attribute 'strip'\n"
    )
    deep = walk.replace("[[/R]]", "[[/R]]  [Previous line repeated {N} more times]\n")
    return [
        Group(
            "python",
            "invoice-totals-keyerror",
            "billing",
            (keyerror,),
            ("plain", "qp", "base64", "attachment", "quoted"),
        ),
        Group(
            "python",
            "invoice-totals-typeerror",
            "billing",
            (typeerror,),
            ("plain", "html", "alternative"),
        ),
        Group(
            "python",
            "sync-push-refused",
            "partner-sync",
            (refused,),
            ("plain", "base64", "forwarded", "qp"),
        ),
        Group(
            "python", "sync-push-timeout", "partner-sync", (timeout,), ("plain", "attachment", "qp")
        ),
        Group(
            "python",
            "reports-tree-recursion",
            "reports",
            (walk, deep),
            ("plain", "qp", "base64", "plain"),
        ),
    ]


def _javascript_groups() -> list[Group]:
    checkout = (
        "{EXC}\n"
        "    at CheckoutService.applyVoucher ({ROOT}/dist/services/checkout-service.js:{L}:{C})\n"
        "    at async CheckoutService.submit ({ROOT}/dist/services/checkout-service.js:{L}:{C})\n"
        "    at async CheckoutController.post ({ROOT}/dist/controllers/checkout.js:{L}:{C})\n"
        "    at async {ROOT}/node_modules/@fastify/middie/lib/engine.js:{L}:{C}\n"
        "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n"
    )
    typeerror = checkout.replace(
        "{EXC}", "TypeError: Cannot read properties of undefined (reading 'discount')"
    )
    # Same frames, another exception type.
    rangeerror = checkout.replace("{EXC}", "RangeError: Invalid time value").replace(
        "    at CheckoutService.applyVoucher",
        "    at Date.toISOString (<anonymous>)\n    at CheckoutService.applyVoucher",
    )
    browser = (
        "Uncaught TypeError: Cannot read properties of null (reading 'value')\n"
        "    at OrderForm.collectLines (https://portal.acme.example/static/js/main.{HASH}.js:2:{C})\n"
        "    at OrderForm.onSave (https://portal.acme.example/static/js/main.{HASH}.js:2:{C})\n"
        "    at HTMLButtonElement.<anonymous> (https://portal.acme.example/static/js/"
        "vendor.{HASH2}.js:1:{C})\n"
        "    at Object.invokeGuardedCallbackDev (https://portal.acme.example/static/js/"
        "vendor.{HASH2}.js:1:{C})\n"
    )
    return [
        Group(
            "javascript",
            "checkout-voucher-typeerror",
            "shop-api",
            (typeerror,),
            ("plain", "base64", "qp", "attachment", "html"),
        ),
        Group(
            "javascript",
            "checkout-voucher-rangeerror",
            "shop-api",
            (rangeerror,),
            ("plain", "alternative", "quoted"),
        ),
        Group(
            "javascript",
            "portal-order-form-null",
            "portal",
            (browser,),
            ("plain", "qp", "forwarded", "base64"),
        ),
    ]


def _go_groups() -> list[Group]:
    route = (
        "panic: runtime error: invalid memory address or nil pointer dereference\n"
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x{N} pc=0x6b2f{N}]\n\n"
        "goroutine {ID} [running]:\n"
        "github.com/acme/dispatch/internal/router.(*Router).Route(0xc0001a{N}00, "
        "{0xc000124060, 0x2{N}})\n"
        "\t{ROOT}/internal/router/router.go:{L} +0x1fa\n"
        "github.com/acme/dispatch/internal/api.(*Server).handleDispatch.func{N}({0x7f2c40, "
        "0xc0002a0000}, 0xc0002b2000)\n"
        "\t{ROOT}/internal/api/server.go:{L} +0x3c\n"
        "net/http.HandlerFunc.ServeHTTP(0xc000010100, {0x7f2c40, 0xc0002a0000}, 0xc0002b2000)\n"
        "\t/usr/local/go/src/net/http/server.go:2136 +0x29\n"
        "created by net/http.(*Server).Serve in goroutine 1\n"
        "\t/usr/local/go/src/net/http/server.go:3086 +0x4cc\n"
    )
    cache = (
        "panic: runtime error: index out of range [{N}] with length {N}\n\n"
        "goroutine {ID} [running]:\n"
        "github.com/acme/dispatch/internal/store.(*Cache).Get(...)\n"
        "\t{ROOT}/internal/store/cache.go:{L}\n"
        "github.com/acme/dispatch/internal/store.(*Store).Vehicle(0xc00011e{N}0, "
        "{0xc0003a2{N}0, 0x{N}})\n"
        "\t{ROOT}/internal/store/store.go:{L} +0x{N}e\n"
        "main.main()\n"
        "\t{ROOT}/cmd/dispatch/main.go:{L} +0x{N}5\n"
        "exit status 2\n"
    )
    return [
        Group(
            "go", "router-route-nil", "dispatch", (route,), ("plain", "base64", "qp", "attachment")
        ),
        Group("go", "store-cache-index", "dispatch", (cache,), ("plain", "html", "quoted")),
    ]


def _ruby_groups() -> list[Group]:
    total = (
        "{ROOT}/app/models/order.rb:{L}:in `block in total': {EXC}\n"
        "\tfrom {ROOT}/app/models/order.rb:{L}:in `each'\n"
        "\tfrom {ROOT}/app/models/order.rb:{L}:in `total'\n"
        "\tfrom {ROOT}/app/services/checkout.rb:{L}:in `call'\n"
        "\tfrom /usr/local/bundle/gems/actionpack-7.1.{N}/lib/action_controller/metal/"
        "basic_implicit_render.rb:6:in `send_action'\n"
        "\tfrom /usr/local/lib/ruby/3.2.0/benchmark.rb:311:in `realtime'\n"
    )
    nomethod = total.replace("{EXC}", "undefined method `price' for nil:NilClass (NoMethodError)")
    # Same frames, another exception type.
    argument = total.replace("{EXC}", "comparison of Integer with nil failed (ArgumentError)")
    return [
        Group(
            "ruby",
            "order-total-nomethod",
            "shop",
            (nomethod,),
            ("plain", "qp", "base64", "attachment"),
        ),
        Group(
            "ruby",
            "order-total-argument",
            "shop",
            (argument,),
            ("plain", "alternative", "forwarded"),
        ),
    ]


def _php_groups() -> list[Group]:
    calc = (
        "PHP Fatal error:  Uncaught TypeError: App\\Billing\\InvoiceCalculator::total(): "
        "Argument #1 ($lines) must be of type array, null given, called in "
        "{ROOT}/src/Controller/InvoiceController.php on line {L} and defined in "
        "{ROOT}/src/Billing/InvoiceCalculator.php:{L}\n"
        "Stack trace:\n"
        "#0 {ROOT}/src/Controller/InvoiceController.php({L}): "
        "App\\Billing\\InvoiceCalculator->total(NULL)\n"
        "#1 {ROOT}/vendor/symfony/http-kernel/HttpKernel.php({L}): "
        "App\\Controller\\InvoiceController->show(Object(Symfony\\Component\\HttpFoundation\\"
        "Request), '{ID}')\n"
        "#2 {ROOT}/vendor/symfony/http-kernel/HttpKernel.php(74): "
        "Symfony\\Component\\HttpKernel\\HttpKernel->handleRaw(Object(Symfony\\Component\\"
        "HttpFoundation\\Request), 1)\n"
        "#3 {ROOT}/public/index.php({L}): Symfony\\Component\\HttpKernel\\Kernel->handle("
        "Object(Symfony\\Component\\HttpFoundation\\Request))\n"
        "#4 {main}\n"
        "  thrown in {ROOT}/src/Billing/InvoiceCalculator.php on line {L}\n"
    )
    member = (
        "PHP Fatal error:  Uncaught Error: Call to a member function getCurrency() on null in "
        "{ROOT}/src/Billing/PriceFormatter.php:{L}\n"
        "Stack trace:\n"
        "#0 {ROOT}/src/Controller/InvoiceController.php({L}): "
        "App\\Billing\\PriceFormatter->format(Object(App\\Entity\\Invoice))\n"
        "#1 {ROOT}/vendor/symfony/http-kernel/HttpKernel.php({L}): "
        "App\\Controller\\InvoiceController->show(Object(Symfony\\Component\\HttpFoundation\\"
        "Request), '{ID}')\n"
        "#2 {main}\n"
        "  thrown in {ROOT}/src/Billing/PriceFormatter.php on line {L}\n"
    )
    return [
        Group(
            "php",
            "invoice-calculator-typeerror",
            "billing-web",
            (calc,),
            ("plain", "qp", "base64", "attachment"),
        ),
        Group("php", "price-formatter-null", "billing-web", (member,), ("plain", "html", "quoted")),
    ]


# --------------------------------------------------------------------------- not reports

_TRIAGEBOT_QUOTE = (
    "> triagebot found a new error signature 3f9c2a7be1d04c55 (12 occurrences):\n"
    ">\n"
    "> System.NullReferenceException in Acme.Desk.Client.ViewModels.CaseViewModel.LoadAsync\n"
    ">    at Acme.Desk.Client.ViewModels.CaseViewModel.<LoadAsync>d__12.MoveNext() in "
    "C:\\Build\\Agent\\_work\\3\\s\\src\\Acme.Desk.Client\\ViewModels\\CaseViewModel.cs:line 87\n"
    ">\n"
    "> Reply FILE to file a defect or IGNORE to mute this signature.\n"
)

NOT_REPORTS: dict[str, str] = {
    "human-question": (
        "From: Maria Lopez <maria.lopez@acme.example>\n"
        "To: helpdesk@acme.example\n"
        "Subject: Export to Excel greyed out\n"
        "Date: Tue, 12 Mar 2024 09:14:02 +0100\n"
        "Message-ID: <CAF4k2=question-0001@mail.acme.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Hello,\n\nhow can I export the case list to Excel? The button is greyed out for me\n"
        "since the last update (version 4.12).\n\nRegards,\nMaria\n"
    ),
    "human-crash-no-trace": (
        "From: Tom Becker <tom.becker@acme.example>\n"
        "To: helpdesk@acme.example\n"
        "Subject: Desk client crashed when saving\n"
        "Date: Wed, 13 Mar 2024 16:40:55 +0100\n"
        "Message-ID: <question-0002@mail.acme.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Hi,\n\nthe client just closed itself when I pressed Save on case 4711. No error\n"
        "window, it was simply gone. Can somebody have a look?\n\nTom\n"
    ),
    "out-of-office": (
        "From: Hans Weber <hans.weber@acme.example>\n"
        "To: desk-client-errors@ws-acc-231.acme.example\n"
        "Subject: Automatic reply: [Acme Desk Client] Unhandled exception on WS-ACC-231\n"
        "Date: Thu, 14 Mar 2024 07:01:12 +0100\n"
        "Message-ID: <oof-0001@exchange.acme.example>\n"
        "Auto-Submitted: auto-replied\n"
        "X-Auto-Response-Suppress: All\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "I am out of the office until 25 March with limited access to e-mail.\n"
        "For urgent matters please contact the service desk on extension 4400.\n"
    ),
    "out-of-office-de": (
        "From: =?utf-8?q?J=C3=BCrgen_Maier?= <juergen.maier@acme.example>\n"
        "To: helpdesk@acme.example\n"
        "Subject: =?utf-8?q?Abwesenheitsnotiz=3A_Fehlerbericht?=\n"
        "Date: Fri, 15 Mar 2024 11:23:45 +0100\n"
        "Message-ID: <oof-0002@exchange.acme.example>\n"
        "X-Auto-Response-Suppress: All\n"
        "X-MS-Exchange-Inbox-Rules-Loop: juergen.maier@acme.example\n"
        "Auto-Submitted: auto-generated\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=windows-1252\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "Ich bin bis einschlie=DFlich 22.03. nicht im B=FCro. In dringenden F=E4llen\n"
        "wenden Sie sich bitte an den Service Desk.\n"
    ),
    "newsletter": (
        "From: Acme News <news@mailer.acme-news.example>\n"
        "To: helpdesk@acme.example\n"
        "Subject: What's new in Acme Desk 4.13\n"
        "Date: Mon, 18 Mar 2024 06:00:00 +0000\n"
        "Message-ID: <20240318060000.news-8812@mailer.acme-news.example>\n"
        "List-Id: Acme product news <news.acme-news.example>\n"
        "List-Unsubscribe: <https://news.acme.example/u/8812>, <mailto:unsub@acme-news.example>\n"
        "Precedence: bulk\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="nl-8812"\n\n'
        "--nl-8812\nContent-Type: text/plain; charset=utf-8\n\n"
        "New dashboards, faster imports and fewer errors: read what's new in 4.13.\n"
        "We fixed an error where an exception was shown when saving a case.\n"
        "--nl-8812\nContent-Type: text/html; charset=utf-8\n\n"
        "<html><body><h1>What's new in Acme Desk 4.13</h1><p>New dashboards, faster imports"
        " and fewer errors.</p></body></html>\n"
        "--nl-8812--\n"
    ),
    "reply-to-candidate": (
        "From: Petra Schulz <petra.schulz@acme.example>\n"
        "To: Triagebot <triagebot+c-7f3k2q@acme.example>\n"
        "Subject: Re: [triage C-7F3K2Q] New error signature 3f9c2a7be1d04c55\n"
        "Date: Tue, 19 Mar 2024 10:02:11 +0100\n"
        "Message-ID: <reply-0001@mail.acme.example>\n"
        "In-Reply-To: <triagebot.c-7f3k2q.1710838500@acme.example>\n"
        "References: <triagebot.c-7f3k2q.1710838500@acme.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "FILE\n\nThis one is real, please file it.\n\n"
        "On Tue, 19 Mar 2024 at 09:55, Triagebot <triagebot+c-7f3k2q@acme.example> wrote:\n"
        + _TRIAGEBOT_QUOTE
    ),
    "read-receipt": (
        "From: Anna Berg <anna.berg@acme.example>\n"
        "To: helpdesk@acme.example\n"
        "Subject: Read: Your ticket HD-20931\n"
        "Date: Wed, 20 Mar 2024 08:30:00 +0100\n"
        "Message-ID: <mdn-0001@mail.acme.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="mdn"\n\n'
        "--mdn\nContent-Type: text/plain; charset=utf-8\n\n"
        "Your message was read on Wednesday, 20 March 2024 08:30.\n"
        "--mdn\nContent-Type: message/disposition-notification\n\n"
        "Final-Recipient: rfc822; anna.berg@acme.example\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n"
        "--mdn--\n"
    ),
}


def _bounce(original: bytes) -> str:
    """A delivery failure that carries a complete error report as its returned message."""
    return (
        "From: MAILER-DAEMON@mx1.acme.example (Mail Delivery System)\n"
        "To: desk-client-errors@ws-acc-231.acme.example\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Date: Thu, 21 Mar 2024 12:00:01 +0100\n"
        "Message-ID: <20240321110001.4C1F2A0@mx1.acme.example>\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="bnc"\n\n'
        "--bnc\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mx1.acme.example.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        "<old-helpdesk@acme.example>: host mailstore.acme.example said: 550 5.1.1 User unknown\n\n"
        "--bnc\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx1.acme.example\n\n"
        "Final-Recipient: rfc822; old-helpdesk@acme.example\nAction: failed\nStatus: 5.1.1\n\n"
        "--bnc\nContent-Description: Undelivered Message\nContent-Type: message/rfc822\n\n"
        + original.decode("utf-8")
        + "\n--bnc--\n"
    )


# --------------------------------------------------------------------------- writing


def groups() -> list[Group]:
    return [
        *_dotnet_groups(),
        *_java_groups(),
        *_python_groups(),
        *_javascript_groups(),
        *_go_groups(),
        *_ruby_groups(),
        *_php_groups(),
    ]


def report(group: Group, index: int, rng: random.Random) -> bytes:
    """Occurrence ``index`` of ``group``: fresh volatile values, its variant and its shape."""
    occ = mailgen.occurrence(rng)
    root = mailgen.expand(rng.choice(group.roots or ROOTS[group.language]), rng)
    template = group.variants[index % len(group.variants)]
    for token in ("{HASH}", "{HASH2}"):  # content / proxy hash: one per build
        template = template.replace(token, f"{rng.getrandbits(32):08x}")
    trace = mailgen.expand(template.replace("{ROOT}", root), rng)
    env = mailgen.report_envelope(group.app, occ)
    text = mailgen.report_text(group.app, trace.rstrip("\n"), occ)
    return mailgen.render(env, text, group.shapes[index], rng)


def build(out: Path, seed: int = 2024) -> int:
    """Rewrite ``out`` from scratch; returns the number of mails written."""
    rng = random.Random(seed)
    for sub in out.iterdir() if out.exists() else ():
        if sub.is_dir():
            shutil.rmtree(sub)
    count = 0
    first: bytes | None = None
    for group in groups():
        folder = out / group.language / group.name
        folder.mkdir(parents=True)
        for i in range(len(group.shapes)):
            raw = report(group, i, rng)
            first = first or raw
            (folder / f"{i + 1:02d}.eml").write_bytes(raw)
            count += 1
    others = out / "_not_reports"
    others.mkdir(parents=True)
    assert first is not None
    mails = {**NOT_REPORTS, "bounce-with-report": _bounce(first)}
    for name, text in mails.items():
        (others / f"{name}.eml").write_bytes(text.encode("utf-8"))
        count += 1
    return count


#: The README's first command replays ``samples/``: 12 mails, 5 bugs, 4 languages.
SAMPLES = {
    "dotnet/client-case-load-nullref": 3,  # English, German and French runtime
    "dotnet/appserver-case-sql-timeout": 3,
    "java/invoice-totals-npe": 2,
    "python/invoice-totals-keyerror": 2,
    "javascript/checkout-voucher-typeerror": 2,
}


def write_samples(corpus: Path, out: Path) -> None:
    """Copy the first mails of a few corpus groups to ``out`` (named after their group)."""
    out.mkdir(exist_ok=True)
    for old in out.glob("*.eml"):
        old.unlink()
    for group, count in SAMPLES.items():
        for mail in sorted((corpus / group).glob("*.eml"))[:count]:
            shutil.copyfile(mail, out / f"{group.split('/')[1]}-{mail.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "tests/corpus")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--samples", type=Path, default=Path(__file__).parent.parent / "samples")
    args = parser.parse_args()
    print(f"wrote {build(args.out, args.seed)} mails under {args.out}")
    write_samples(args.out, args.samples)
    print(f"copied {sum(SAMPLES.values())} sample mails to {args.samples}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
