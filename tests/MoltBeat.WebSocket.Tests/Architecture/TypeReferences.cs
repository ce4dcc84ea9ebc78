using System.Reflection;
using System.Reflection.Emit;

namespace MoltBeat.WebSocket.Tests.Architecture;

/// <summary>
/// Every type a compiled type uses: its base type and interfaces, the types in its fields, properties,
/// events and method signatures, and every type, method and field its method bodies refer to (read from
/// the IL), with generic arguments, arrays and compiler-generated nested types (lambdas, async state
/// machines) counted for the type that declares them.
/// </summary>
internal static class TypeReferences
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The namespace a type belongs to for layering: a nested type's is its outermost declaring type's.</summary>
    public static string NamespaceOf(Type type)
    {
        while (type.DeclaringType is { } outer)
            type = outer;
        return type.Namespace ?? "";
    }

    /// <summary>The types <paramref name="type"/> uses, generic arguments and element types unwrapped.</summary>
    public static HashSet<Type> Of(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null || t.IsGenericParameter)
                return;
            if (t.HasElementType)
            {
                Add(t.GetElementType());
                return;
            }
            if (!found.Add(t.IsGenericType ? t.GetGenericTypeDefinition() : t))
                return;
            if (t.IsGenericType)
            {
                foreach (var argument in t.GetGenericArguments())
                    Add(argument);
            }
        }

        Add(type.BaseType);
        foreach (var i in type.GetInterfaces())
            Add(i);
        foreach (var field in type.GetFields(Declared))
            Add(field.FieldType);
        foreach (var property in type.GetProperties(Declared))
            Add(property.PropertyType);
        foreach (var e in type.GetEvents(Declared))
            Add(e.EventHandlerType);
        foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            if (method is MethodInfo info)
                Add(info.ReturnType);
            foreach (var parameter in method.GetParameters())
                Add(parameter.ParameterType);
            var body = method.GetMethodBody();
            if (body is null)
                continue;
            foreach (var local in body.LocalVariables)
                Add(local.LocalType);
            foreach (var member in ReferencedMembers(method, body.GetILAsByteArray() ?? []))
            {
                Add(member as Type ?? member.DeclaringType);
                if (member is FieldInfo f)
                    Add(f.FieldType);
                if (member is MethodInfo m)
                {
                    Add(m.ReturnType);
                    if (m.IsGenericMethod)
                    {
                        foreach (var argument in m.GetGenericArguments())
                            Add(argument);
                    }
                }
            }
        }
        return found;
    }

    // Walks the IL opcode by opcode and resolves the operands that name a type, method or field.
    private static IEnumerable<MemberInfo> ReferencedMembers(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var at = 0; at < il.Length;)
        {
            short value = il[at++];
            if (value == 0xFE)
                value = unchecked((short)(0xFE00 | il[at++]));
            var opcode = OpCodesByValue[value];
            switch (opcode.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineType or OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, at);
                    at += 4;
                    yield return module.ResolveMember(token, typeArguments, methodArguments)!;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    at += 1;
                    break;
                case OperandType.InlineVar:
                    at += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    at += 8;
                    break;
                case OperandType.InlineSwitch:
                    at += 4 + (4 * BitConverter.ToInt32(il, at));
                    break;
                default:
                    at += 4; // InlineI, InlineBrTarget, InlineSig, InlineString, ShortInlineR
                    break;
            }
        }
    }
}
